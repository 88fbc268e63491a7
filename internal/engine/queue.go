package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The queue: one subject per endpoint and priority, sluice.q.<ep>.<n|l>,
// each entry's data "<id> <epoch>". Each endpoint's consumers filter on one
// literal subject, so the server finds a consumer's next entry without
// looking at any other: a take costs the same whatever the backlog. (A
// subject per job under a wildcard filter made every fetch scan the whole
// backlog; Open moves entries of that layout, see moveOldQueue.)

// queueSubject is the queue subject of an endpoint's priority.
func queueSubject(ep, prio string) string { return queuePrefix + ep + "." + prio }

// enqueue publishes the queue entry of r's current epoch.
func (e *Engine) enqueue(ctx context.Context, r *record) error {
	m, opts := queueMsg(r, true)
	ack, err := e.js.PublishMsg(ctx, m, opts...)
	if err != nil {
		return fmt.Errorf("enqueue job %s: %w", r.ID, err)
	}
	e.mem.queued(r.Endpoint, r.ID, ack.Sequence)
	e.nudge(nudgeQueue + r.Endpoint)
	return nil
}

// queueMsg is the queue entry of r's current epoch. A re-queue carries a
// message id (job and epoch), so an entry sent twice is stored once; a new
// job's entry is sent once and needs none, which keeps the server's
// duplicate window (a map entry per id for two minutes) free of a backlog.
func queueMsg(r *record, requeue bool) (*nats.Msg, []jetstream.PublishOpt) {
	prio := prioNormal
	if r.Policy.LowPriority {
		prio = prioLow
	}
	ttl := time.Until(r.CreatedAt.Add(r.Policy.TTL)).Round(time.Second) + time.Second
	epoch := strconv.Itoa(r.Epoch)
	opts := []jetstream.PublishOpt{jetstream.WithMsgTTL(ttl)}
	if requeue {
		opts = append(opts, jetstream.WithMsgID(r.ID+"."+epoch))
	}
	return &nats.Msg{Subject: queueSubject(r.Endpoint, prio), Data: []byte(r.ID + " " + epoch)}, opts
}

// parseEntry reads the job id and epoch of a queue entry: "<id> <epoch>" on
// an endpoint's subject, or (entries of the old layout) the epoch alone on
// subject sluice.q.<ep>.<prio>.<id>.
func parseEntry(subject string, data []byte) (id string, epoch int, ok bool) {
	s := string(data)
	if i := strings.IndexByte(s, ' '); i >= 0 {
		id, s = s[:i], s[i+1:]
	} else {
		id = subject[strings.LastIndexByte(subject, '.')+1:]
	}
	epoch, err := strconv.Atoi(s)
	return id, epoch, err == nil && tokenRE.MatchString(id)
}

// dequeue removes the queue entry of ep/id when this engine knows where it
// is (it queued the job); otherwise the entry stays until a take drops it as
// stale. Best effort either way.
func (e *Engine) dequeue(ctx context.Context, ep, id string) {
	seq, ok := e.mem.takeQueued(ep, id)
	if !ok {
		return
	}
	if err := e.queue.DeleteMsg(ctx, seq); err != nil && !isNotFound(err) {
		e.log.Warn("engine: dequeue", attrJob, id, attrErr, err)
	}
}

// moveOldQueue moves the entries of the old queue layout (a subject per
// job, sluice.q.<ep>.<prio>.<id>) to their endpoint's subject, in order,
// keeping what is left of their TTL. Several replicas may do it at once: the
// message id (job and epoch) makes a second copy a duplicate, and an entry
// taken twice is dropped as stale by the second take.
func (e *Engine) moveOldQueue(ctx context.Context) error {
	const old = queuePrefix + "*.*.*"
	moved := 0
	for seq := uint64(1); ; {
		m, err := e.queue.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(old))
		if isNotFound(err) {
			break
		}
		if err != nil {
			return fmt.Errorf("move old queue entries: %w", err)
		}
		seq = m.Sequence + 1
		toks := strings.Split(strings.TrimPrefix(m.Subject, queuePrefix), ".")
		id, epoch, ok := parseEntry(m.Subject, m.Data)
		ttl, terr := time.ParseDuration(m.Header.Get(jetstream.MsgTTLHeader))
		if terr != nil {
			ttl = defaultTTL
		}
		left := (ttl - time.Since(m.Time)).Round(time.Second)
		if ok && len(toks) == 3 && left > 0 {
			nm := &nats.Msg{Subject: queueSubject(toks[0], toks[1]), Data: []byte(id + " " + strconv.Itoa(epoch))}
			if _, err := e.js.PublishMsg(ctx, nm, jetstream.WithMsgID(id+"."+strconv.Itoa(epoch)),
				jetstream.WithMsgTTL(left+time.Second)); err != nil {
				return fmt.Errorf("move queue entry of job %s: %w", id, err)
			}
			moved++
		}
		if err := e.queue.DeleteMsg(ctx, m.Sequence); err != nil && !isNotFound(err) {
			return fmt.Errorf("move queue entry of job %s: %w", id, err)
		}
	}
	if moved > 0 {
		e.log.Info("engine: moved queue entries to the per-endpoint layout", attrEntries, moved)
	}
	return nil
}

type epConsumers struct {
	normal, low jetstream.Consumer
}

// consumerAttempt bounds one request creating an endpoint's consumer.
const consumerAttempt = 5 * time.Second

// consumersFor returns (creating on first use) the durable pull consumers of
// an endpoint, shared by every replica.
func (e *Engine) consumersFor(ctx context.Context, ep string) (*epConsumers, error) {
	e.mu.RLock()
	c := e.consumers[ep]
	e.mu.RUnlock()
	if c != nil {
		return c, nil
	}
	// Creating a replicated consumer can take a while on a cluster; do not let
	// a caller's short long-poll deadline fail it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	stop := context.AfterFunc(e.ctx, cancel) // but Close ends it
	defer stop()
	mk := func(prio string) (jetstream.Consumer, error) {
		name := "q_" + ep + "_" + prio
		for {
			// A request whose answer is lost (a busy or changing meta
			// leader) is sent again after consumerAttempt rather than
			// holding the caller for the whole budget.
			actx, acancel := context.WithTimeout(ctx, consumerAttempt)
			cons, err := e.queue.CreateOrUpdateConsumer(actx, jetstream.ConsumerConfig{
				Durable:       name,
				FilterSubject: queueSubject(ep, prio),
				AckPolicy:     jetstream.AckExplicitPolicy,
				AckWait:       e.cfg.AckWait,
				MaxDeliver:    -1,
				MaxAckPending: 100000,
				Replicas:      0,
			})
			acancel()
			if err == nil {
				return cons, nil
			}
			noAnswer := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders)
			if !noAnswer || ctx.Err() != nil {
				return nil, fmt.Errorf("consumer %s: %w", name, err)
			}
			e.log.Debug("engine: create consumer again", attrConsumer, name, attrErr, err)
		}
	}
	n, err := mk(prioNormal)
	if err != nil {
		return nil, err
	}
	l, err := mk(prioLow)
	if err != nil {
		return nil, err
	}
	c = &epConsumers{normal: n, low: l}
	e.mu.Lock()
	e.consumers[ep] = c
	e.mu.Unlock()
	return c, nil
}

// forgetConsumers drops the cached consumers of an endpoint.
func (e *Engine) forgetConsumers(ep string) {
	e.mu.Lock()
	delete(e.consumers, ep)
	e.mu.Unlock()
}
