// This file holds the Matroska stream a recorder writes into an encoding
// ffmpeg's stdin: each frame once, with its slot's time, so that ffmpeg
// decodes only the frames camrec hands it and a slot that repeats the
// previous frame may be left out (see session.stampedSkip).

package record

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// Matroska element IDs (their marker bits included).
const (
	mkvEBML            = 0x1A45DFA3
	mkvEBMLVersion     = 0x4286
	mkvEBMLReadVersion = 0x42F7
	mkvEBMLMaxIDLength = 0x42F2
	mkvEBMLMaxSizeLen  = 0x42F3
	mkvDocType         = 0x4282
	mkvDocTypeVersion  = 0x4287
	mkvDocTypeReadVer  = 0x4285
	mkvSegment         = 0x18538067
	mkvInfo            = 0x1549A966
	mkvTimestampScale  = 0x2AD7B1
	mkvMuxingApp       = 0x4D80
	mkvWritingApp      = 0x5741
	mkvTracks          = 0x1654AE6B
	mkvTrackEntry      = 0xAE
	mkvTrackNumber     = 0xD7
	mkvTrackUID        = 0x73C5
	mkvTrackType       = 0x83
	mkvFlagLacing      = 0x9C
	mkvCodecID         = 0x86
	mkvDefaultDuration = 0x23E383
	mkvVideo           = 0xE0
	mkvPixelWidth      = 0xB0
	mkvPixelHeight     = 0xBA
	mkvColourSpace     = 0x2EB524
	mkvCluster         = 0x1F43B675
	mkvTimestamp       = 0xE7
	mkvSimpleBlock     = 0xA3
)

// mkvUnknownSize is the size of an element whose end the writer does not
// know (a live stream's Segment): 8 bytes, all value bits set.
var mkvUnknownSize = []byte{0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}

// appendMKVHeader appends the start of a Matroska stream of one video
// track: in's frames (MJPEG, or raw yuyv422 images) of width x height,
// timestamps in milliseconds, the Segment of unknown size (it lasts until
// the pipe closes).
func appendMKVHeader(buf []byte, in inputSpec, width, height int, fps float64) []byte {
	buf = mkvElem(buf, mkvEBML, func(b []byte) []byte {
		b = mkvUint(b, mkvEBMLVersion, 1)
		b = mkvUint(b, mkvEBMLReadVersion, 1)
		b = mkvUint(b, mkvEBMLMaxIDLength, 4)
		b = mkvUint(b, mkvEBMLMaxSizeLen, 8)
		b = mkvString(b, mkvDocType, "matroska")
		b = mkvUint(b, mkvDocTypeVersion, 4)
		return mkvUint(b, mkvDocTypeReadVer, 2)
	})
	buf = mkvID(buf, mkvSegment)
	buf = append(buf, mkvUnknownSize...)
	buf = mkvElem(buf, mkvInfo, func(b []byte) []byte {
		b = mkvUint(b, mkvTimestampScale, 1_000_000) // ms
		b = mkvString(b, mkvMuxingApp, "camrec")
		return mkvString(b, mkvWritingApp, "camrec")
	})
	return mkvElem(buf, mkvTracks, func(b []byte) []byte {
		return mkvElem(b, mkvTrackEntry, func(b []byte) []byte {
			b = mkvUint(b, mkvTrackNumber, 1)
			b = mkvUint(b, mkvTrackUID, 1)
			b = mkvUint(b, mkvTrackType, 1) // video
			b = mkvUint(b, mkvFlagLacing, 0)
			codec := "V_MJPEG"
			if in.Raw() {
				codec = "V_UNCOMPRESSED"
			}
			b = mkvString(b, mkvCodecID, codec)
			if fps > 0 {
				// A slot: what ffmpeg takes as a frame's length where it
				// has no next frame to tell (the last one).
				b = mkvUint(b, mkvDefaultDuration, uint64(math.Round(1e9/fps)))
			}
			return mkvElem(b, mkvVideo, func(b []byte) []byte {
				b = mkvUint(b, mkvPixelWidth, uint64(width))
				b = mkvUint(b, mkvPixelHeight, uint64(height))
				if in.Raw() {
					// The FourCC of the raw layout, which ffmpeg maps to
					// its pixel format.
					b = mkvBytes(b, mkvColourSpace, []byte("YUY2"))
				}
				return b
			})
		})
	})
}

// appendMKVFrame appends one frame shown from ms (milliseconds from the
// stream's start): a Cluster holding one keyframe SimpleBlock.
func appendMKVFrame(buf []byte, ms int64, payload []byte) []byte {
	ts := mkvUint(nil, mkvTimestamp, uint64(max(ms, 0)))
	// SimpleBlock: track 1 (vint), timestamp 0 relative to the cluster,
	// flags keyframe.
	const blockHead = 4
	block := len(payload) + blockHead
	size := len(ts) + mkvIDLen(mkvSimpleBlock) + mkvSizeLen(uint64(block)) + block
	buf = mkvID(buf, mkvCluster)
	buf = mkvSize(buf, uint64(size))
	buf = append(buf, ts...)
	buf = mkvID(buf, mkvSimpleBlock)
	buf = mkvSize(buf, uint64(block))
	buf = append(buf, 0x81, 0, 0, 0x80)
	return append(buf, payload...)
}

// mkvElem appends the element id whose body fill appends.
func mkvElem(buf []byte, id uint32, fill func([]byte) []byte) []byte {
	body := fill(nil)
	buf = mkvID(buf, id)
	buf = mkvSize(buf, uint64(len(body)))
	return append(buf, body...)
}

func mkvUint(buf []byte, id uint32, v uint64) []byte {
	n := max(1, (bits.Len64(v)+7)/8)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return mkvBytes(buf, id, b[8-n:])
}

func mkvString(buf []byte, id uint32, s string) []byte { return mkvBytes(buf, id, []byte(s)) }

func mkvBytes(buf []byte, id uint32, v []byte) []byte {
	buf = mkvID(buf, id)
	buf = mkvSize(buf, uint64(len(v)))
	return append(buf, v...)
}

func mkvIDLen(id uint32) int { return max(1, (bits.Len32(id)+7)/8) }

// mkvID appends an element ID: its bytes as they are, marker included.
func mkvID(buf []byte, id uint32) []byte {
	n := mkvIDLen(id)
	for i := n - 1; i >= 0; i-- {
		buf = append(buf, byte(id>>(8*i)))
	}
	return buf
}

// mkvSizeLen is the length of the shortest vint holding v (all ones is
// reserved for "unknown").
func mkvSizeLen(v uint64) int {
	n := 1
	for n < 8 && v >= 1<<(7*n)-1 {
		n++
	}
	return n
}

// mkvSize appends v as an EBML variable-length integer.
func mkvSize(buf []byte, v uint64) []byte {
	n := mkvSizeLen(v)
	v |= 1 << (7 * n) // the length marker
	for i := n - 1; i >= 0; i-- {
		buf = append(buf, byte(v>>(8*i)))
	}
	return buf
}
