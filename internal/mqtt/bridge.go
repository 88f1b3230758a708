// Package mqtt links camrec to an MQTT broker, and through it to Home
// Assistant: camrec's availability, each camera's state and attributes
// (retained), its events, commands to record and to take a snapshot, and
// Home Assistant's MQTT discovery, so that every camera shows up as a
// device's entities without hand-written YAML.
//
// The bridge owns its connection: it connects, and after a failure or a
// lost connection tries again with camrec's backoff, logging once per
// change (not once per try). A broker that is down never holds up cameras
// or recordings: events published while it is away are not queued (the
// retained state, republished at every connect, tells where things are).
//
// A camera with motion detection also has a motion binary_sensor and one
// per zone, a switch and a button to arm it, an image entity with the
// last motion event's snapshot and a score sensor (motion.go).
package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/camrec/camrec/internal/defs"
	"github.com/camrec/camrec/internal/events"
	"github.com/camrec/camrec/pipeline"
	"github.com/camrec/camrec/pipeline/record"
)

// Config is what the bridge needs to know.
type Config struct {
	URL      string // mqtt://host:1883, mqtts://host:8883
	Username string
	Password string // never logged
	// TLS is used for mqtts:// (nil: the system's CAs).
	TLS             *tls.Config
	ClientID        string // also the Home Assistant device's identifier
	TopicPrefix     string // camrec
	DiscoveryPrefix string // homeassistant; "" turns discovery off
	Version         string // camrec's, shown on the device
	// RecordDir and DiskFree give the free space shown as a sensor.
	RecordDir string
	DiskFree  func(dir string) (free, total int64, err error)
	// Refresh is how often every state topic is republished when it
	// changed at all (the free disk, small moves of the rate); 0 means
	// 30 s. A measured rate that changed enough goes out sooner (watchDue).
	Refresh time.Duration
	// EventSnapshots, if not nil, gives the motion events' snapshots
	// for the cameras' image entities.
	EventSnapshots EventSnapshots
}

// CameraView is the part of a camera the bridge shows and commands.
type CameraView interface {
	Name() string
	Status() pipeline.CameraStatus
	Snapshot(ctx context.Context) (*pipeline.Frame, error)
}

// Recorder starts and stops a camera's recordings.
type Recorder interface {
	SetActive(ctx context.Context, active bool) (record.RecordingStatus, error)
	Status() record.RecordingStatus
}

// Camera is one camera as the bridge sees it.
type Camera struct {
	View     CameraView
	Recorder Recorder
	// Motion, if not nil, is the camera's motion detection; the bridge
	// shows it when its status says it is enabled.
	Motion Motion
}

// EventFeed is where the bridge takes events from (an *events.Bus).
type EventFeed interface {
	Subscribe(after uint64, depth int) (missed []events.Event, lost bool, sub *events.Sub)
}

const (
	// eventDepth bounds the events queued while a publish is under way.
	eventDepth = 64
	// messageDepth bounds the commands queued from the broker.
	messageDepth = 64
	// publishTimeout bounds the wait for the broker's acknowledgement.
	publishTimeout = 10 * time.Second
	// commandTimeout bounds a record command or a snapshot.
	commandTimeout = 20 * time.Second
	defaultRefresh = 30 * time.Second
	// watchEvery is how often the cameras' measurements (the rate, the
	// preview clients) are looked at between events: the camera measures
	// its rate once a second.
	watchEvery = time.Second
)

// Bridge is camrec's MQTT client. Make it with New, run it with Run.
type Bridge struct {
	cfg    Config
	cams   map[string]Camera
	names  []string // in config order
	feed   EventFeed
	log    *slog.Logger
	topics topics
	// measured holds the cameras whose rate was measured at least once
	// (their fps attribute is no longer null). Only Run's goroutine uses it.
	measured map[string]bool
}

// New returns a bridge for cams; it connects when Run is called.
func New(cfg Config, cams []Camera, feed EventFeed, log *slog.Logger) *Bridge {
	if cfg.Refresh <= 0 {
		cfg.Refresh = defaultRefresh
	}
	b := &Bridge{cfg: cfg, cams: map[string]Camera{}, feed: feed, log: log.With("component", "mqtt"),
		topics:   topics{prefix: cfg.TopicPrefix, discovery: cfg.DiscoveryPrefix, node: nodeID(cfg.ClientID)},
		measured: map[string]bool{}}
	for _, c := range cams {
		name := c.View.Name()
		b.cams[name] = c
		b.names = append(b.names, name)
	}
	return b
}

// Run connects and serves until ctx is done, then publishes offline and
// disconnects. It returns nil: a broker's trouble is logged, never fatal.
func (b *Bridge) Run(ctx context.Context) error {
	_, _, sub := b.feed.Subscribe(0, eventDepth)
	defer sub.Close()
	backoff := defs.Backoff{First: time.Second, Max: time.Minute}
	var lastErr string
	for {
		conn, err := b.connect(ctx)
		if err == nil {
			backoff.Reset()
			lastErr = ""
			b.log.Info("mqtt connected", "broker", b.brokerForLog(), "client_id", b.cfg.ClientID)
			err = conn.serve(ctx, sub)
			if ctx.Err() != nil {
				return nil
			}
			b.log.Warn("mqtt connection lost; reconnecting", "broker", b.brokerForLog(), "error", err)
		} else if ctx.Err() != nil {
			return nil
		} else if msg := err.Error(); msg != lastErr {
			b.log.Warn("mqtt broker unavailable; camrec goes on and retries", "broker", b.brokerForLog(), "error", msg)
			lastErr = msg
		}
		wait := time.NewTimer(backoff.Next())
		select {
		case <-ctx.Done():
			wait.Stop()
			return nil
		case <-wait.C:
		}
	}
}

// brokerForLog is the broker's URL without anything secret in it (the
// config refuses credentials in the URL; this holds anyway).
func (b *Bridge) brokerForLog() string {
	u, err := url.Parse(b.cfg.URL)
	if err != nil {
		return "(invalid url)"
	}
	return u.Scheme + "://" + u.Host
}

// message is one message from the broker, copied out of paho's callback.
type message struct {
	topic    string
	payload  []byte
	retained bool
}

// conn is one connection to the broker; serve runs it until it is lost or
// ctx is done.
type conn struct {
	b      *Bridge
	client paho.Client
	lost   chan error
	msgs   chan message
	// last is what each state topic last carried on this connection, so
	// that the periodic refresh publishes only changes.
	last map[string]string
	// attrs and attrsAt are each camera's attributes as last published
	// on this connection, and when: what the watch compares with.
	attrs   map[string]attributes
	attrsAt map[string]time.Time
	// ended is each camera's last motion event seen ending (motionView);
	// zones the zones whose sensors this connection announced.
	ended map[string]string
	zones map[string][]string
	// scoreAt is when each camera's motion score last went out.
	scoreAt map[string]time.Time
}

// connect makes one attempt; its error says why the broker refused.
func (b *Bridge) connect(ctx context.Context) (*conn, error) {
	c := &conn{b: b, lost: make(chan error, 1), msgs: make(chan message, messageDepth), last: map[string]string{},
		attrs: map[string]attributes{}, attrsAt: map[string]time.Time{}, ended: map[string]string{}, zones: map[string][]string{},
		scoreAt: map[string]time.Time{}}
	opts := paho.NewClientOptions().
		AddBroker(b.cfg.URL).
		SetClientID(b.cfg.ClientID).
		SetUsername(b.cfg.Username).
		SetPassword(b.cfg.Password).
		SetCleanSession(true).
		SetProtocolVersion(4).   // MQTT 3.1.1; without it paho tries 3.1 after a refusal
		SetAutoReconnect(false). // Run owns reconnecting, to log and back off its way
		SetConnectRetry(false).
		SetConnectTimeout(10*time.Second).
		SetKeepAlive(30*time.Second).
		SetWill(b.topics.availability(), payloadOffline, 1, true).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case c.lost <- err:
			default:
			}
		}).
		SetDefaultPublishHandler(c.receive)
	if b.cfg.TLS != nil {
		opts.SetTLSConfig(b.cfg.TLS)
	}
	c.client = paho.NewClient(opts)
	tok := c.client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		c.client.Disconnect(0)
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, explain(err)
	}
	return c, nil
}

// explain turns the broker's refusals into what the user has to fix.
func explain(err error) error {
	switch {
	case errors.Is(err, packets.ErrorRefusedNotAuthorised), errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword):
		return fmt.Errorf("the broker refused camrec's user name or password (check mqtt.username and mqtt.password): %w", err)
	case errors.As(err, new(*tls.CertificateVerificationError)):
		return fmt.Errorf("the broker's certificate is not trusted (give its CA in mqtt.ca_file): %w", err)
	}
	return err
}

// receive is paho's callback for every message: it hands the message to
// serve without waiting (a full queue drops it, logged).
func (c *conn) receive(_ paho.Client, m paho.Message) {
	select {
	case c.msgs <- message{topic: m.Topic(), payload: m.Payload(), retained: m.Retained()}:
	default:
		c.b.log.Warn("mqtt message dropped: too many at once", "topic", m.Topic())
	}
}

// serve subscribes, publishes availability, discovery and state, then
// follows events, commands and the refresh tick.
func (c *conn) serve(ctx context.Context, sub *events.Sub) error {
	b := c.b
	drain(sub) // events from before this connection: the state below says where things are
	subs := map[string]byte{
		b.topics.command("+", "recording"): 1,
		b.topics.command("+", "snapshot"):  1,
		b.topics.command("+", "armed"):     1,
	}
	if b.topics.discovery != "" {
		subs[b.topics.haStatus()] = 1
		subs[b.topics.discoveryFilter()] = 1 // retained configs: find cameras that left
	}
	if err := c.wait(c.client.SubscribeMultiple(subs, nil)); err != nil {
		c.client.Disconnect(0)
		return fmt.Errorf("subscribe: %w", err)
	}
	if err := c.announce(); err != nil {
		c.client.Disconnect(0)
		return err
	}
	tick := time.NewTicker(b.cfg.Refresh)
	defer tick.Stop()
	// A camera just started has no measured rate yet, a rate changes in
	// low light: the watch publishes it once measured, and when it moved.
	watch := time.NewTicker(watchEvery)
	defer watch.Stop()
	for {
		select {
		case <-ctx.Done():
			// A clean goodbye: offline now rather than when the will fires.
			_ = c.publish(b.topics.availability(), true, []byte(payloadOffline))
			c.client.Disconnect(500)
			return nil
		case err := <-c.lost:
			return err
		case e := <-sub.Events():
			c.event(e)
		case m := <-c.msgs:
			c.handle(ctx, m)
		case <-tick.C:
			_ = c.state(publishChanged)
		case <-watch.C:
			_ = c.state(publishWatch)
		}
	}
}

// announce publishes what a new connection (or Home Assistant coming
// online) needs: availability, discovery and every camera's state.
func (c *conn) announce() error {
	if err := c.publish(c.b.topics.availability(), true, []byte(payloadOnline)); err != nil {
		return fmt.Errorf("publish availability: %w", err)
	}
	for _, name := range c.b.names {
		if _, st := motionOf(c.b.cams[name]); st.Enabled {
			c.zones[name] = zoneNames(st)
		}
		if c.b.topics.discovery == "" {
			continue
		}
		for _, d := range c.b.discovery(name) {
			if err := c.publish(d.topic, true, d.payload); err != nil {
				return fmt.Errorf("publish discovery: %w", err)
			}
		}
	}
	if err := c.state(publishAll); err != nil {
		return err
	}
	// The image entities: the last event's snapshot (a restarted broker
	// forgot it).
	for _, name := range c.b.names {
		if m, st := motionOf(c.b.cams[name]); m != nil {
			c.publishEventSnapshot(name, st.LastEventID)
		}
	}
	return nil
}

func drain(sub *events.Sub) {
	for {
		select {
		case <-sub.Events():
		default:
			return
		}
	}
}

// publish sends one message at QoS 1 and waits for the broker.
func (c *conn) publish(topic string, retained bool, payload []byte) error {
	return c.wait(c.client.Publish(topic, 1, retained, payload))
}

func (c *conn) wait(t paho.Token) error {
	if !t.WaitTimeout(publishTimeout) {
		return errors.New("the broker did not answer within " + publishTimeout.String())
	}
	return t.Error()
}

// event publishes e on its camera's event topic and refreshes the state
// it changed.
func (c *conn) event(e events.Event) {
	if _, ok := c.b.cams[e.Camera]; !ok {
		return
	}
	if e.Type != events.CameraState {
		if err := c.publishJSON(c.b.topics.camera(e.Camera, "event"), false, e.Body()); err != nil {
			c.b.log.Debug("mqtt publish event", "error", err)
		}
	}
	c.motionEvent(e)
	_ = c.state(publishChanged)
}

// handle acts on a message from the broker.
func (c *conn) handle(ctx context.Context, m message) {
	t := c.b.topics
	switch {
	case m.topic == t.haStatus():
		if strings.TrimSpace(string(m.payload)) == payloadOnline {
			c.b.log.Info("home assistant came online; publishing discovery and state again")
			c.last = map[string]string{}
			if err := c.announce(); err != nil {
				c.b.log.Debug("mqtt announce", "error", err)
			}
		}
	case t.isDiscoveryConfig(m.topic):
		c.forgetStale(m)
	default:
		cam, what, ok := t.parseCommand(m.topic)
		if !ok {
			return
		}
		if _, known := c.b.cams[cam]; !known {
			c.b.log.Warn("mqtt command for an unknown camera ignored", "topic", m.topic)
			return
		}
		switch what {
		case "recording":
			c.setRecording(ctx, cam, strings.ToUpper(strings.TrimSpace(string(m.payload))))
		case "snapshot":
			c.snapshot(ctx, cam)
		case "armed":
			c.setArmed(cam, strings.ToUpper(strings.TrimSpace(string(m.payload))))
		}
	}
}

// setRecording starts (ON) or stops (OFF) a recording. MQTT commands act
// with the operator's rights: the broker's ACL decides who may send them.
func (c *conn) setRecording(ctx context.Context, cam, payload string) {
	var on bool
	switch payload {
	case payloadOn:
		on = true
	case payloadOff:
	default:
		c.b.log.Warn("mqtt record command ignored: want ON or OFF", "camera", cam, "payload", truncate(payload, 16))
		return
	}
	rec := c.b.cams[cam].Recorder
	if rec == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	if rec.Status().Active == on {
		_ = c.state(publishAll) // idempotent: say again what holds
		return
	}
	c.b.log.Info("mqtt record command", "camera", cam, "recording", on)
	if _, err := rec.SetActive(ctx, on); err != nil {
		c.b.log.Warn("mqtt record command failed", "camera", cam, "recording", on, "error", err)
	}
	_ = c.state(publishAll) // Home Assistant's switch shows the outcome, not the wish
}

// snapshot publishes the camera's latest frame as a JPEG on its snapshot
// topic (an MQTT camera's image topic).
func (c *conn) snapshot(ctx context.Context, cam string) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	f, err := c.b.cams[cam].View.Snapshot(ctx)
	if err != nil {
		c.b.log.Warn("mqtt snapshot failed", "camera", cam, "error", err)
		return
	}
	if err := c.wait(c.client.Publish(c.b.topics.camera(cam, "snapshot"), 0, false, f.Data)); err != nil {
		c.b.log.Debug("mqtt publish snapshot", "error", err)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
