package stomp

import (
	"reflect"
	"strings"
	"testing"

	"github.com/go-stomp/stomp/v3/frame"

	"github.com/weirlog/weir/plugins"
)

func TestParseURLs(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{[]string{"tcp://a:1"}, []string{"tcp://a:1"}},
		{[]string{"failover:(tcp://a:1", "stomp+ssl://b:2)?randomize=false"}, []string{"tcp://a:1", "stomp+ssl://b:2"}},
		{[]string{"stomp://h", "ssl://h:9"}, []string{"tcp://h:61613", "stomp+ssl://h:9"}},
		{[]string{"h:5"}, []string{"tcp://h:5"}},
	} {
		got, err := parseURLs(tc.in)
		if err != nil {
			t.Fatalf("%v: %v", tc.in, err)
		}
		var s []string
		for _, a := range got {
			s = append(s, a.String())
		}
		if !reflect.DeepEqual(s, tc.want) {
			t.Errorf("%v → %v, want %v", tc.in, s, tc.want)
		}
	}
	for _, bad := range []string{"amqp://h:1", "tcp://:1", "tcp://h:99999"} {
		if _, err := parseURLs([]string{bad}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestConfigAliasesAndErrors(t *testing.T) {
	s, err := parseSource(plugins.Config{"activemq.url": "tcp://h:1", "jms.destination.name": "prices", "jms.destination.type": "topic",
		"jms.message.selector": "a > 1", "kafka.topic": "t", "activemq.username": "u", "activemq.password": "p"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.destinations, []string{"/topic/prices"}) || s.selector != "a > 1" || s.login != "u" || s.passcode != "p" {
		t.Fatalf("aliases: %+v", s)
	}
	for _, cfg := range []plugins.Config{
		{"stomp.destinations": "/queue/a", "kafka.topic": "t"},
		{"stomp.url": "tcp://h:1", "kafka.topic": "t"},
		{"stomp.url": "tcp://h:1", "stomp.destinations": "/queue/a"},
		{"stomp.url": "tcp://h:1", "stomp.destinations": "/queue/a", "kafka.topic": "t", "stomp.ack.mode": "auto"},
	} {
		if _, err := parseSource(cfg); err == nil {
			t.Errorf("%v accepted", cfg)
		}
	}
	if _, err := parseSink(plugins.Config{"stomp.url": "tcp://h:1", "stomp.destination": "queue/x"}); err == nil {
		t.Error("a destination without / accepted")
	}
	s, _ = parseSource(plugins.Config{"stomp.url": "h", "stomp.destinations": "a,/topic/b", "kafka.topic.format": "x.${destination}", "kafka.topic": "ignored"})
	if got := s.kafkaTopicFor("/topic/b:c"); got != "x.b_c" {
		t.Errorf("kafka.topic.format wins: %q", got)
	}
	if !reflect.DeepEqual(s.destinations, []string{"/queue/a", "/topic/b"}) {
		t.Errorf("destinations %v", s.destinations)
	}
}

// Queues go to every task (competing consumers), each topic to one.
func TestTaskConfigs(t *testing.T) {
	var c SourceConnector
	if err := c.Start(nil, plugins.Config{"stomp.url": "h", "stomp.destinations": "/queue/q,/topic/a,/topic/b,/topic/c", "kafka.topic": "t"}); err != nil {
		t.Fatal(err)
	}
	tcs, _ := c.TaskConfigs(2)
	if len(tcs) != 2 || tcs[0][taskDestinationsConfig] != "/queue/q,/topic/a,/topic/c" || tcs[1][taskDestinationsConfig] != "/queue/q,/topic/b" {
		t.Fatalf("%v", tcs)
	}
	if err := c.Start(nil, plugins.Config{"stomp.url": "h", "stomp.destinations": "/topic/a", "kafka.topic": "t"}); err != nil {
		t.Fatal(err)
	}
	if tcs, _ := c.TaskConfigs(4); len(tcs) != 1 {
		t.Fatalf("one topic gave %d tasks", len(tcs))
	}
}

// Headers round-trip: the source's stomp.<name> come back as <name>;
// reserved ones never leave.
func TestHeaderMapping(t *testing.T) {
	h := frame.NewHeader("destination", "/queue/a", "message-id", "ID:1", "ack", "9", "subscription", "0",
		"content-length", "3", "app", "v", "app", "second", "x:y", "a\nb")
	ks := headersToKafka(h)
	var names []string
	for _, k := range ks {
		names = append(names, k.Key+"="+k.Value.(string))
	}
	if got := strings.Join(names, ","); got != "stomp.destination=/queue/a,stomp.message-id=ID:1,stomp.app=v,stomp.x:y=a\nb" {
		t.Fatalf("to Kafka: %q", got)
	}
	out := frame.NewHeader()
	headersFromKafka(out, append(ks, plugins.Header{Key: "plain", Value: int32(7)}, plugins.Header{Key: "stomp.receipt", Value: "r"},
		plugins.Header{Key: "kafka.key", Value: "k"}))
	var back []string
	for i := 0; i < out.Len(); i++ {
		k, v := out.GetAt(i)
		back = append(back, k+"="+v)
	}
	if got := strings.Join(back, ","); got != "app=v,x:y=a\nb,plain=7" {
		t.Fatalf("from Kafka: %q", got)
	}
}

func TestDedupWindow(t *testing.T) {
	w := newDedupWindow(2)
	w.add("a")
	w.add("b")
	w.add("a")
	if !w.contains("a") || !w.contains("b") {
		t.Fatal("lost a key within the window")
	}
	w.add("c")
	if w.contains("a") || !w.contains("c") {
		t.Fatal("window not bounded")
	}
}
