package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handler answers one request; it never returns nil except for a produce
// with acks=0 (which sets rc.p.noResponse).
type handler func(b *Broker, rc *reqCtx, req kmsg.Request) kmsg.Response

var (
	apiKeys  = map[int16]kmsg.ApiVersionsResponseApiKey{}
	handlers = map[int16]handler{}
	asyncKey = map[int16]bool{}
)

// register declares that key is served at versions [min, max] by h; every
// handler file calls it from init, so ApiVersions advertises exactly what
// is implemented.
func register(key kmsg.Key, min, max int16, h handler) {
	k := key.Int16()
	if _, dup := apiKeys[k]; dup || min > max {
		panic("broker: bad registration of " + kmsg.NameForKey(k))
	}
	apiKeys[k] = kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: min, MaxVersion: max}
	handlers[k] = h
}

// registerAsync is register for handlers that may block (long polls,
// group rebalances): they run off the connection's read goroutine.
func registerAsync(key kmsg.Key, min, max int16, h handler) {
	register(key, min, max, h)
	asyncKey[key.Int16()] = true
}

func isAsync(key int16) bool { return asyncKey[key] }
