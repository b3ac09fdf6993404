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
// The package does not lock, wait for data, encode chunks or decide when a
// chunk may be extended: its owner does.
//
// # Reading
//
// [Collect] copies every chunk newer than a cursor; [CollectPage] copies a
// page of them bounded in bytes, optionally merging consecutive chunks of one
// stream, so that what one read allocates follows the bytes it returns, not
// the number of chunks in the ring. Both allocate twice per call: one buffer
// for the data and one slice for the chunks, each of exactly the returned
// size.
//
// # Writing
//
// [Ring.Append] copies data into a new chunk; [Ring.AppendRead] lets a reader
// fill the ring's storage directly. [Ring.AppendReadTo] may instead grow the
// newest chunk, up to [MaxExtend] bytes, so that a writer of one byte at a time
// does not make one chunk per byte while nobody reads.
//
// # Memory
//
// A ring holds its data buffer, at most Cap() bytes, and a ring of boundary
// entries, eight bytes each: one per retained chunk and one per remembered
// dropped chunk, at most [HistoryChunks] of those. The boundary ring doubles
// when full and halves when less than a quarter full (if it has more than 32
// entries), and it never grows past the most entries it can need: every
// retained chunk holds at least one byte, so there are at most Cap() of them,
// plus HistoryChunks remembered ones, plus one pushed before the head is
// dropped. The bookkeeping is therefore at most 8 × (Cap() + HistoryChunks +
// 1) bytes, and [Ring.Footprint] at most that plus Cap().
//
// The worst case is a full ring of one-byte chunks. For the default 1 MiB cap
// it is 8 × (1,048,576 + 4,000 + 1) = 8,420,616 bytes of boundaries beside
// 1,048,576 bytes of data: a Footprint of 9,469,192 bytes. While the boundary
// ring grows to that size, the 8,388,608 bytes of the ring it replaces are
// live too, until the garbage collector frees them. An owner that extends
// chunks with AppendReadTo while no reader has seen the newest one makes a
// new chunk only when a reader has seen it, the stream changes or the chunk
// reaches its bound, so that one-byte writes alone cannot reach this.
//
// # Limits
//
// Byte counts ([Ring.Appended], [Ring.Lost], [Ring.Missed]) are int64 on every
// platform, exact up to 2^63−1 bytes. Cumulative offsets are kept modulo 2^56
// and restored from the total, which stays exact unless the remembered chunks
// span 64 PiB (the HistoryChunks+1 oldest would have to average 16 TiB each).
// Int results ([Ring.Retained], [Ring.Len]) are bounded by the cap, and
// [Ring.Footprint] saturates at math.MaxInt.
//
// Seq is an int: on 32-bit platforms at most 2,147,483,647 chunks can be
// numbered. Once [Ring.Last] is math.MaxInt, every later append joins the
// newest chunk, whatever its stream and size, so bytes are still retained and
// counted exactly; a cursor at that Seq sees none of them, and Missed does not
// count them for it.
//
// # Concurrency
//
// A Ring is not safe for concurrent use: its owner locks around it, and the
// functions passed to it (mk, read) run under that lock.
package ring
