package broker

import (
	"log/slog"
	"sync"
	"time"
)

// warnInterval is how often one kind of warning caused by clients (bad
// frames, rejected connections, stalled readers) may be logged. A client in
// a reconnect loop would otherwise write a line per attempt.
const warnInterval = 10 * time.Second

// rateLimiter lets one event per key through every interval and counts
// the ones it held back, so the next line can say how many were dropped.
type rateLimiter struct {
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

func newRateLimiter(interval time.Duration) *rateLimiter {
	return &rateLimiter{interval: interval, now: time.Now, last: map[string]time.Time{}, held: map[string]int{}}
}

// allow reports whether an event of key may be logged now, and how many
// were suppressed since the last one that was.
func (r *rateLimiter) allow(key string) (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if t, seen := r.last[key]; seen && now.Sub(t) < r.interval {
		r.held[key]++
		return false, 0
	}
	r.last[key] = now
	suppressed = r.held[key]
	delete(r.held, key)
	if len(r.last) > 1024 { // keys are message texts: bounded in practice; stay so
		for k, t := range r.last {
			if now.Sub(t) >= r.interval {
				delete(r.last, k)
			}
		}
	}
	return true, suppressed
}

// warnLimited logs a warning at most once per warnInterval per message.
func (b *Broker) warnLimited(msg string, args ...any) {
	ok, suppressed := b.warnLimit.allow(msg)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	b.logger.Log(b.ctx, slog.LevelWarn, msg, args...)
}

// errorLimited logs an error at most once per warnInterval per message.
func (b *Broker) errorLimited(msg string, args ...any) {
	ok, suppressed := b.warnLimit.allow(msg)
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	b.logger.Log(b.ctx, slog.LevelError, msg, args...)
}
