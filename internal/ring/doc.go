// Package ring implements the byte-capped ring of sequence-numbered chunks
// behind every sessionkit session.
//
// The data of all chunks lives in one contiguous circular byte buffer that
// grows with what is retained, doubling up to the cap, so a ring that holds 100
// bytes costs about 100 bytes and a full ring never allocates again. Chunk
// boundaries are kept as cumulative byte offsets, eight bytes a chunk, which
// makes the accounting exact: retained = min(appended, cap) and
// lost = appended − retained at all times, and a cursor's own loss can be told
// from the offsets.
//
// A Ring is not safe for concurrent use: its owner locks around it.
package ring
