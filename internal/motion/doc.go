// Package motion detects motion in a camera's pictures: a Detector compares
// each frame with a background model and scores the changed area, a Tracker
// turns the scores into events, a Schedule says when detection is armed.
// It knows nothing of how frames arrive: its input is a small luma picture
// (one byte per pixel), normally the camera's JPEG at 1/8 scale (one pixel
// per 8x8 block: 160x90 for 1280x720), with its capture time, a few times a
// second (Config.FPS, default 5). Everything is driven by those capture
// times: no clock, no goroutines, no allocation per frame.
//
// # Algorithm (Detector)
//
//  1. Learning. The first LearnTime of frames (1 s, and at least 3
//     frames) make the background, their mean, and each pixel's noise, the
//     mean absolute deviation of a frame from the mean before it. Nothing
//     is reported meanwhile (Result.Learning). A gap of over 10 frame
//     intervals (and 30 s) between frames, or a frame older than the one
//     before, starts learning again: the background would be stale.
//  2. Global light. The change of the whole picture's brightness since the
//     background is fitted robustly as an offset plus a gain (medians of
//     the differences of the dark and the bright half of every other pixel
//     that was still in the previous frame, clipped pixels left out), and
//     the background is moved by it at once. So auto-exposure, clouds and
//     a slow ramp leave no difference behind. When the fitted change is
//     MinDiff levels or more in a single frame, it is a light switch: the
//     background is re-learnt from this frame (reseeded) and the frame has
//     no motion (Result.Lightswitch), like Motion's lightswitch.
//  3. Changed pixels. A pixel is changed when its difference from the
//     background exceeds max(MinDiff, NoiseFactor·noise), its own noise
//     deciding in a noisy region (a dark corner at high gain, leaves). When
//     Lightswitch percent or more of the unmasked picture changed at once
//     (a lamp lit part of the room, the camera's IR cut-over, the camera
//     was moved), the frame is a light switch too.
//  4. Model update. A still pixel follows the frame with a running average
//     of time constant BackgroundTime (10 s); so does its noise estimate
//     (time constant 30 s). While the light changes, still pixels follow
//     faster, by g/10 of the way for a change of g levels in the frame: no
//     global fit predicts every pixel (a block half inside a clipped lamp
//     brightens at half the rate), and the leftovers must not add up over
//     a ramp. A changed pixel is kept out of the background while it has
//     been changed for less than AbsorbAfter (10 s, Motion's limit): a
//     moving object is not absorbed, a parked car is, AbsorbAfter +
//     BackgroundTime·ln(contrast/threshold) after it stopped, the
//     threshold having risen from MinDiff towards NoiseFactor·MinDiff
//     meanwhile: 15 to 29 s for a contrast of 100 levels (20.5 s in
//     TestParkedObjectIsAbsorbed). A changed pixel pulls its noise
//     estimate towards MinDiff (never above), so a pixel that keeps
//     changing raises its own threshold, up to NoiseFactor·MinDiff, while
//     one passing object hardly does. The averages use each frame's real
//     interval (alpha = 1-exp(-dt/tau)), so the time constants hold at any
//     frame rate and across dropped frames.
//  5. Despeckle. Changed pixels are grouped into 8-connected blobs; blobs
//     under MinArea percent of the picture (4 pixels at 160x90) are noise
//     and do not count.
//  6. Score. The pixels of the remaining blobs, in percent of the unmasked
//     pixels, are the frame's Score; Motion is Score >= Threshold (0.5%).
//     Each zone whose counted pixels reach its own threshold (percent of
//     the zone's unmasked pixels; default Threshold) is in Result.Zones.
//     Zones only report where a frame's motion was: they do not make
//     motion by themselves.
//
// Masks and zones are polygons in normalised coordinates (0..1, x right, y
// down), rasterised once onto the analysed grid: a pixel belongs to a
// polygon when its centre lies inside. Masked pixels are ignored entirely:
// in the light fit, the changed area, blobs (which do not cross them), the
// light switch share and the score's denominator.
//
// # Events (Tracker)
//
// An event starts when MinFrames (2) consecutive frames have motion and
// starts at the first of them; it ends when EventGap (5 s) has passed
// without motion, at the first frame at or past the gap (or at Flush), and
// its End is its last frame with motion. Events carry their peak score and
// its time (keep that frame's picture: Update.NewPeak) and the zones that
// moved.
//
// # Arming (Schedule)
//
// Weekly windows of wall-clock time in a time zone, e.g. "mon-fri
// 08:00-17:30", "sat,sun 00:00-24:00", "22:00-06:00", DST-safe: see
// Schedule.
//
// # Cost
//
// A frame of 160x90 (1280x720 at 1/8) takes about 0.26 ms, 240x135 about
// 0.58 ms, with no allocation (BenchmarkDetector on a 2-vCPU VM): 0.13% of
// a core at 5 fps for 720p. Decoding the JPEG's luma costs more.
package motion
