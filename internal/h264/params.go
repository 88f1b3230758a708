package h264

import "bytes"

// Params keeps the last SPS and PPS of a stream, so that every keyframe
// can start a file or a decoder: encoders (x264 with its defaults, many
// cameras) send them with the first keyframe only. Not safe for concurrent
// use.
type Params struct {
	sps, pps []byte // own copies
	spsInfo  SPSInfo
	spsOK    bool
}

// Update takes the SPS and PPS of in, if any, and reports whether the SPS
// changed (then Info has been parsed again).
func (p *Params) Update(in Info) (spsChanged bool) {
	if in.SPS != nil && !bytes.Equal(in.SPS, p.sps) {
		p.sps = append(p.sps[:0], in.SPS...)
		info, err := ParseSPS(in.SPS)
		p.spsInfo, p.spsOK = info, err == nil
		spsChanged = true
	}
	if in.PPS != nil && !bytes.Equal(in.PPS, p.pps) {
		p.pps = append(p.pps[:0], in.PPS...)
	}
	return spsChanged
}

// SPS returns the last SPS parsed, and false before a valid one.
func (p *Params) SPS() (SPSInfo, bool) { return p.spsInfo, p.spsOK }

// Missing is how many bytes Copy adds to the access unit described by in:
// the SPS and PPS with start codes, for a keyframe without them.
func (p *Params) Missing(in Info) int {
	if !in.Key || (in.SPS != nil && in.PPS != nil) || p.sps == nil || p.pps == nil {
		return 0
	}
	return 4 + len(p.sps) + 4 + len(p.pps)
}

// AppendUnit appends to dst the access unit au described by in (after
// Update), with the cached SPS and PPS in front when it is a keyframe
// without them. It is the one copy of the unit's bytes.
func (p *Params) AppendUnit(dst, au []byte, in Info) []byte {
	if p.Missing(in) == 0 {
		return append(dst, au...)
	}
	// An access unit delimiter stays first.
	it := Iter(au)
	cut := 0
	if nal, ok := it.Next(); ok && Type(nal) == NALAUD {
		cut = it.pos
	}
	dst = append(dst, au[:cut]...)
	dst = append(dst, 0, 0, 0, 1)
	dst = append(dst, p.sps...)
	dst = append(dst, 0, 0, 0, 1)
	dst = append(dst, p.pps...)
	return append(dst, au[cut:]...)
}
