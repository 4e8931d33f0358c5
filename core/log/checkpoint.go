package log

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strconv"
	"strings"
)

// Checkpoint files are small text files in Kafka's checkpoint format:
//
//	<version>\n<count>\n<entry>\n...
//
// They are replaced with write-temp, fsync, rename, fsync-dir, so a reader
// sees the old or the new file whole. A file that does not parse is treated
// as absent, which only costs a longer recovery scan.

const (
	epochCheckpointName = "leader-epoch-checkpoint"
	metaCheckpointName  = "weir-log-checkpoint" // log start, recovery point, cleaner point
	cleanShutdownName   = ".kafka_cleanshutdown"
)

// crcTable is CRC-32C, for weir's own files (snapshots, checkpoints).
var crcTable = crc32.MakeTable(crc32.Castagnoli)

type epochEntry struct {
	epoch int32
	start int64
}

func encodeCheckpoint(lines []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(lines))
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func decodeCheckpoint(data []byte, fields int) ([][]int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 2 || lines[0] != "0" {
		return nil, false
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n < 0 || len(lines) != n+2 {
		return nil, false
	}
	out := make([][]int64, 0, n)
	for _, l := range lines[2:] {
		fs := strings.Fields(l)
		if len(fs) != fields {
			return nil, false
		}
		row := make([]int64, fields)
		for i, f := range fs {
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return nil, false
			}
			row[i] = v
		}
		out = append(out, row)
	}
	return out, true
}

func writeEpochCheckpoint(fsys FS, dir string, epochs []epochEntry) error {
	lines := make([]string, len(epochs))
	for i, e := range epochs {
		lines[i] = fmt.Sprintf("%d %d", e.epoch, e.start)
	}
	return writeFileAtomic(fsys, dir, epochCheckpointName, encodeCheckpoint(lines), true)
}

func readEpochCheckpoint(fsys FS, dir string) []epochEntry {
	b, err := readWholeFile(fsys, filepath.Join(dir, epochCheckpointName))
	if err != nil {
		return nil
	}
	rows, ok := decodeCheckpoint(b, 2)
	if !ok {
		return nil
	}
	var out []epochEntry
	for _, r := range rows {
		e := epochEntry{epoch: int32(r[0]), start: r[1]}
		if n := len(out); n > 0 && (e.epoch <= out[n-1].epoch || e.start < out[n-1].start) {
			return nil // not monotonic: do not trust any of it
		}
		out = append(out, e)
	}
	return out
}

type logMeta struct {
	start, recovery, cleaner int64
}

// The meta checkpoint carries a CRC-32C of its numbers: a recovery point
// that a bit flip moved forward would make recovery trust unflushed bytes.
func writeMeta(fsys FS, dir string, m logMeta) error {
	line := fmt.Sprintf("%d %d %d", m.start, m.recovery, m.cleaner)
	line = fmt.Sprintf("%s %d", line, crc32.Checksum([]byte(line), crcTable))
	return writeFileAtomic(fsys, dir, metaCheckpointName, encodeCheckpoint([]string{line}), true)
}

func readMeta(fsys FS, dir string) (logMeta, bool) {
	b, err := readWholeFile(fsys, filepath.Join(dir, metaCheckpointName))
	if err != nil {
		return logMeta{}, false
	}
	rows, ok := decodeCheckpoint(b, 4)
	if !ok || len(rows) != 1 {
		return logMeta{}, false
	}
	r := rows[0]
	if uint32(r[3]) != crc32.Checksum([]byte(fmt.Sprintf("%d %d %d", r[0], r[1], r[2])), crcTable) || r[3] < 0 || r[3] > 1<<32-1 {
		return logMeta{}, false
	}
	if r[0] < 0 || r[1] < 0 || r[2] < 0 {
		return logMeta{}, false
	}
	return logMeta{start: r[0], recovery: r[1], cleaner: r[2]}, true
}

// configName holds the log's Config as JSON, so a Manager reopens a log
// with its own settings: opening a compacted topic with the delete defaults
// could let retention remove data before the broker re-applies configs.
const configName = "weir-log-config.json"

func writeConfig(fsys FS, dir string, cfg Config) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if old, err := readWholeFile(fsys, filepath.Join(dir, configName)); err == nil && bytes.Equal(old, b) {
		return nil
	}
	return writeFileAtomic(fsys, dir, configName, b, true)
}

// ReadConfig returns the Config last stored in a log directory.
func readConfig(fsys FS, dir string) (Config, bool) {
	b, err := readWholeFile(fsys, filepath.Join(dir, configName))
	if err != nil {
		return Config{}, false
	}
	var cfg Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return Config{}, false
	}
	return cfg, true
}
