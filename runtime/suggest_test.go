package runtime

import "testing"

func TestClosest(t *testing.T) {
	keys := []string{"tasksMax", "class", "config", "state", "autoRestart", "pause"}
	for _, c := range []struct{ in, want string }{
		{"taskMax", "tasksMax"}, {"tasksmax", "tasksMax"}, {"tasks.max", "tasksMax"}, {"confg", "config"},
		{"configs", "config"}, {"clas", "class"}, {"stat", "state"}, {"autorestart", "autoRestart"},
		{"replicas", ""}, {"x", ""},
	} {
		if got := Closest(c.in, keys); got != c.want {
			t.Errorf("Closest(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := Closest("topic.prefx", []string{"topic.prefix", "topics", "tasks.max"}); got != "topic.prefix" {
		t.Errorf("got %q", got)
	}
	if got := Closest("fiel", []string{"file", "topic", "batch.size"}); got != "file" {
		t.Errorf("got %q", got)
	}
}
