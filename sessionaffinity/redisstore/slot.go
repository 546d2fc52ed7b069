package redisstore

import (
	"strconv"
	"strings"
	"sync"
)

// A script may touch several keys on a Cluster only if they hash to one slot.
// The key that keeps a session's lifetime goes beside its binding's key (see
// lifetimeKey), named with a hash tag of the binding's slot: slotOf is Redis
// Cluster's key-to-slot function (CRC16 of the key, or of its hash tag, mod
// 16384), and slotTags a tag for each slot.

const clusterSlots = 16384

// slotOf is the Cluster slot of key.
func slotOf(key string) uint16 {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	return crc16(key) % clusterSlots
}

// crc16 is CRC-16/XMODEM, Redis Cluster's hash.
func crc16(s string) uint16 {
	var crc uint16
	for i := range len(s) {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// slotTags holds, for each slot, the smallest number whose decimal digits
// hash to it: made once, when a store first needs it (about 160,000 hashes).
var slotTags = sync.OnceValue(func() []string {
	tags := make([]string, clusterSlots)
	for n, left := 0, clusterSlots; left > 0; n++ {
		tag := strconv.Itoa(n)
		if s := crc16(tag) % clusterSlots; tags[s] == "" {
			tags[s] = tag
			left--
		}
	}
	return tags
})
