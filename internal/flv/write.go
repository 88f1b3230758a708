// Package flv writes and reads the subset of FLV that carries H.264 with a
// timestamp per frame: camrec's way of handing an H.264 stream to ffmpeg
// (recordings copied from an H.264 camera, restreams) and of reading the
// live encoder's output back frame by frame.
//
// FLV is the simplest container that carries a timestamp with each frame:
// ffmpeg then copies the frames with the times camrec measured at capture,
// with no frame added or left out (an H.264 frame cannot be repeated or
// skipped without breaking the pictures that refer to it). Raw "-f h264"
// input would be stamped at a fixed rate whatever the camera did; raw
// output has no frame boundaries (a unit is only known complete once the
// next one starts: a frame of latency).
//
// Limits: no B-frames (the composition offset is written as 0 and ignored
// when read; cameras, rpicam-vid and camrec's own encoder send none), and
// 2^31 ms (24 days) of timestamps.
package flv

import (
	"encoding/binary"

	"github.com/camrec/camrec/internal/h264"
)

// AppendHeader appends the FLV file header and the AVC sequence header made
// of sps and pps (those of the stream's first keyframe).
func AppendHeader(dst, sps, pps []byte) []byte {
	dst = append(dst, 'F', 'L', 'V', 1, 0x01, 0, 0, 0, 9, 0, 0, 0, 0)
	// AVCDecoderConfigurationRecord (ISO 14496-15 5.2.4.1).
	body := 5 + 6 + 2 + len(sps) + 1 + 2 + len(pps)
	dst = appendTagHeader(dst, body, 0)
	dst = append(dst, 0x17, 0, 0, 0, 0) // keyframe, AVC; sequence header; cts 0
	var p1, p2, p3 byte
	if len(sps) >= 4 {
		p1, p2, p3 = sps[1], sps[2], sps[3]
	}
	dst = append(dst, 1, p1, p2, p3, 0xFF, 0xE1)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(sps)))
	dst = append(dst, sps...)
	dst = append(dst, 1)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(pps)))
	dst = append(dst, pps...)
	return binary.BigEndian.AppendUint32(dst, uint32(11+body))
}

// AppendVideo appends one FLV video tag holding the access unit au (Annex
// B) at ms milliseconds: its NAL units with 4-byte lengths instead of start
// codes (access unit delimiters left out), and the NAL units extra (without
// start codes, e.g. an SEI message) in front of its first slice. key marks
// a keyframe.
func AppendVideo(dst, au []byte, key bool, ms int64, extra ...[]byte) []byte {
	body := 5
	for _, nal := range extra {
		body += 4 + len(nal)
	}
	it := h264.Iter(au)
	for nal, ok := it.Next(); ok; nal, ok = it.Next() {
		if h264.Type(nal) != h264.NALAUD {
			body += 4 + len(nal)
		}
	}
	dst = appendTagHeader(dst, body, ms)
	kind := byte(0x27) // inter frame, AVC
	if key {
		kind = 0x17
	}
	dst = append(dst, kind, 1, 0, 0, 0) // NAL units; cts 0
	it = h264.Iter(au)
	for nal, ok := it.Next(); ok; nal, ok = it.Next() {
		t := h264.Type(nal)
		if t >= h264.NALSlice && t <= h264.NALIDR {
			for _, x := range extra {
				dst = appendNAL(dst, x)
			}
			extra = nil
		}
		if t != h264.NALAUD {
			dst = appendNAL(dst, nal)
		}
	}
	for _, x := range extra { // a unit without a slice: at its end
		dst = appendNAL(dst, x)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(11+body))
}

func appendNAL(dst, nal []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(nal)))
	return append(dst, nal...)
}

// appendTagHeader appends a video tag's header: type 9, size, timestamp.
func appendTagHeader(dst []byte, size int, ms int64) []byte {
	ts := uint32(ms)
	return append(dst, 9, byte(size>>16), byte(size>>8), byte(size),
		byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24), 0, 0, 0)
}
