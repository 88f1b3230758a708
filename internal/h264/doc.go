// Package h264 reads H.264 Annex B byte streams (what `ffmpeg -f h264 -`,
// `rpicam-vid --codec h264 -o -` and UVC cameras offering H264 deliver):
// it walks NAL units without allocating, splits a byte stream into access
// units (one picture each), tells keyframes (IDR), keeps the last SPS and
// PPS so that every keyframe can start a file or a decoder, and reads the
// picture size and profile from an SPS.
//
// Where things are:
//
//	nal.go     NAL unit types, the NAL iterator, what an access unit holds
//	params.go  Params: the last SPS/PPS, prepended to keyframes that lack them
//	sps.go     the fields of an SPS camrec needs (size, profile, level)
//	reader.go  Reader: a byte stream into access units
package h264
