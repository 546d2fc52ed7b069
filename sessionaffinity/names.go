package sessionaffinity

// nameOf returns names[v], the name of an enumeration's value v, or "unknown"
// for a value the enumeration does not have. The outcome and reason types'
// String methods share it.
func nameOf[T ~uint8 | ~int](names []string, v T) string {
	if i := int(v); i >= 0 && i < len(names) {
		return names[i]
	}
	return "unknown"
}
