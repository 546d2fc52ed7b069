package redisstore

import "testing"

func TestSlotOf(t *testing.T) {
	// The check value of CRC-16/XMODEM, and Redis's own examples of hash tags.
	if got := crc16("123456789"); got != 0x31C3 {
		t.Fatalf("crc16 = %#x, want 0x31c3", got)
	}
	for _, tc := range [][2]string{
		{"{user1000}.following", "user1000"},
		{"foo{}{bar}", "foo{}{bar}"},
		{"foo{{bar}}zap", "{bar"},
		{"foo{bar}{zap}", "bar"},
	} {
		if slotOf(tc[0]) != crc16(tc[1])%clusterSlots {
			t.Errorf("slot of %q is not that of %q", tc[0], tc[1])
		}
	}
	// Whatever braces a session id has, its lifetime key shares its slot.
	s := &Store{prefix: "p:"}
	for _, id := range []string{"plain", "a}b", "{x}y", "{}", "}{", "{{a}}"} {
		if a, b := slotOf(s.key(id)), slotOf(s.lifetimeKey(id)); a != b {
			t.Errorf("id %q: the binding is in slot %d, its lifetime in %d", id, a, b)
		}
	}
}
