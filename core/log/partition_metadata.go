package log

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// TopicID is a Kafka topic ID (the 16 bytes kmsg and core/cluster use).
type TopicID = [16]byte

// partitionMetadataName is Kafka's per-partition identity file:
//
//	version: 0
//	topic_id: <topic ID, 22 characters of unpadded base64url>
//
// It ties a <topic>-<partition> directory to one incarnation of the topic:
// a topic deleted and re-created under the same name gets a new ID, so a
// directory the deletion left behind (a crash between the metadata commit
// and the removal) is recognised as someone else's and never served.
const partitionMetadataName = "partition.metadata"

// errNoPartitionMetadata: the directory predates topic IDs on disk.
var errNoPartitionMetadata = errors.New("no " + partitionMetadataName)

func encodePartitionMetadata(id TopicID) []byte {
	return []byte("version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n")
}

// readPartitionMetadata returns the topic ID recorded in dir;
// errNoPartitionMetadata if there is none.
func readPartitionMetadata(fsys FS, dir string) (TopicID, error) {
	var id TopicID
	b, err := readWholeFile(fsys, filepath.Join(dir, partitionMetadataName))
	if errors.Is(err, os.ErrNotExist) {
		return id, errNoPartitionMetadata
	}
	if err != nil {
		return id, fmt.Errorf("read %s: %w", partitionMetadataName, err)
	}
	var version, topicID string
	for _, line := range strings.Split(string(bytes.TrimSpace(b)), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return id, fmt.Errorf("%s: malformed line %q", partitionMetadataName, line)
		}
		switch strings.TrimSpace(k) {
		case "version":
			version = strings.TrimSpace(v)
		case "topic_id":
			topicID = strings.TrimSpace(v)
		}
	}
	if version != "0" {
		return id, fmt.Errorf("%s: unsupported version %q", partitionMetadataName, version)
	}
	raw, err := base64.RawURLEncoding.DecodeString(topicID)
	if err != nil || len(raw) != len(id) {
		return id, fmt.Errorf("%s: malformed topic_id %q", partitionMetadataName, topicID)
	}
	copy(id[:], raw)
	return id, nil
}

// writePartitionMetadata records id in dir durably (temporary file, fsync,
// rename, directory fsync), as Kafka does before serving the partition.
func writePartitionMetadata(fsys FS, dir string, id TopicID) error {
	if err := writeFileAtomic(fsys, dir, partitionMetadataName, encodePartitionMetadata(id), true); err != nil {
		return fmt.Errorf("write %s: %w", partitionMetadataName, err)
	}
	return nil
}

// asideSuffix ends the name of a partition directory set aside: a stray
// (its topic is unknown to the metadata) or one whose topic ID does not
// match the topic now using its name. NewManager never opens one (the name
// does not parse as <topic>-<partition>); PurgeAside deletes them once
// they are older than the grace period.
const asideSuffix = "-stray"

// asideName is <dir>.<unix ms>-stray.
func asideName(dir string, now time.Time) string {
	return dir + "." + strconv.FormatInt(now.UnixMilli(), 10) + asideSuffix
}

// parseAside returns when a set-aside directory name was set aside.
func parseAside(name string) (time.Time, bool) {
	if !strings.HasSuffix(name, asideSuffix) {
		return time.Time{}, false
	}
	s := strings.TrimSuffix(name, asideSuffix)
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(s[i+1:], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}
