package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/weirlog/weir/test/compat/harness"
)

var (
	kafkaIDOnce sync.Once
	kafkaID     string
	kafkaIDErr  error
)

// kafkaShell runs one of kafka-lib.sh's functions (the JVM is exec'd, so
// the process is Java itself).
func kafkaShell(script string) (*exec.Cmd, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	pre := fmt.Sprintf("SVC=cluster-test; source %q; source %q; set +e; kafka_install >&2 || exit 1; ",
		filepath.Join(root, "test/services/lib.sh"), filepath.Join(root, "test/services/kafka/kafka-lib.sh"))
	return exec.Command("bash", "-c", pre+script), nil
}

// kafkaCmd formats node n's data directory (first start only) and returns
// the command that runs it as an Apache Kafka KRaft node.
func (n *Node) kafkaCmd() (*exec.Cmd, error) {
	if n.c.Net != nil {
		return nil, fmt.Errorf("%s=kafka runs on loopback only", EnvSystem)
	}
	props := n.DataDir + ".properties"
	var voters []string
	for _, o := range n.c.Nodes {
		voters = append(voters, fmt.Sprintf("%d@%s", o.ID, o.RaftAddr))
	}
	cfg := fmt.Sprintf(`process.roles=broker,controller
node.id=%d
controller.quorum.voters=%s
listeners=PLAINTEXT://%s,CONTROLLER://%s
advertised.listeners=PLAINTEXT://%s
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=%s
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
group.initial.rebalance.delay.ms=0
`, n.ID, strings.Join(voters, ","), n.KafkaAddr, n.RaftAddr, n.KafkaAddr, n.DataDir)
	if err := os.WriteFile(props, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	kafkaIDOnce.Do(func() {
		cmd, err := kafkaShell(`kafka_java "$SERVICES_SRC/kafka/log4j2-tools.properties" kafka.tools.StorageTool random-uuid`)
		if err != nil {
			kafkaIDErr = err
			return
		}
		out, err := cmd.Output()
		kafkaID, kafkaIDErr = strings.TrimSpace(string(out)), err
	})
	if kafkaIDErr != nil {
		return nil, fmt.Errorf("kafka cluster id: %w", kafkaIDErr)
	}
	if _, err := os.Stat(filepath.Join(n.DataDir, "meta.properties")); err != nil {
		cmd, err := kafkaShell(fmt.Sprintf(`kafka_java "$SERVICES_SRC/kafka/log4j2-tools.properties" kafka.tools.StorageTool format -t %q -c %q`, kafkaID, props))
		if err != nil {
			return nil, err
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("format %s: %v\n%s", n.DataDir, err, out)
		}
	}
	return kafkaShell(fmt.Sprintf(`KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}" kafka_java "$SERVICES_SRC/kafka/log4j2-broker.properties" kafka.Kafka %q`, props))
}
