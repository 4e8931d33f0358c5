package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirlog/weir/plugins"
)

// stage names where a record can fail, as Kafka Connect spells them in the
// __connect.errors.stage header.
type stage string

const (
	stageKeyConverter    stage = "KEY_CONVERTER"
	stageValueConverter  stage = "VALUE_CONVERTER"
	stageHeaderConverter stage = "HEADER_CONVERTER"
	stageTransformation  stage = "TRANSFORMATION"
	stageTaskPut         stage = "TASK_PUT"
	stageTaskPoll        stage = "TASK_POLL"
	stageKafkaProduce    stage = "KAFKA_PRODUCE"
	stageKafkaConsume    stage = "KAFKA_CONSUME"
)

// Dead letter queue context headers (Kafka's DeadLetterQueueReporter).
const (
	hdrPrefix     = "__connect.errors."
	hdrTopic      = hdrPrefix + "topic"
	hdrPartition  = hdrPrefix + "partition"
	hdrOffset     = hdrPrefix + "offset"
	hdrConnector  = hdrPrefix + "connector.name"
	hdrTask       = hdrPrefix + "task.id"
	hdrStage      = hdrPrefix + "stage"
	hdrClass      = hdrPrefix + "class.name"
	hdrExClass    = hdrPrefix + "exception.class.name"
	hdrExMessage  = hdrPrefix + "exception.message"
	hdrExStack    = hdrPrefix + "exception.stacktrace"
	initialBackof = 300 * time.Millisecond
)

// errantRecord is what failed: the raw bytes (sink side: as read from the
// log; source side: as far as conversion got) and the Connect record.
type errantRecord struct {
	topic     string
	partition int32
	offset    int64 // -1 on the source side
	key       []byte
	value     []byte
	headers   []kgo.RecordHeader
	rec       *plugins.Record
	// fill, when set, computes key and value on first need (the source
	// side encodes them only for a record that is actually reported).
	fill func(*errantRecord)
}

// errorHandler is Kafka Connect's RetryWithToleranceOperator plus its
// reporters (log and dead letter queue) for one task.
type errorHandler struct {
	cc        *connectorConfig
	connector string
	task      int
	log       *slog.Logger
	m         *metrics
	prod      *kgo.Client // for the DLQ; nil when none
	secrets   *secrets
	sleep     func(ctx context.Context, d time.Duration) error
}

// errTolerated is returned by execute when a record failed and was skipped.
var errTolerated = errors.New("record skipped by errors.tolerance=all")

// execute runs fn, retrying retriable errors until errors.retry.timeout;
// when it still fails, a tolerated failure is reported and errTolerated is
// returned, an intolerable one is returned wrapped with its stage.
func (h *errorHandler) execute(ctx context.Context, st stage, class string, er *errantRecord, fn func() error) error {
	err := h.retry(ctx, fn)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return h.fail(ctx, st, class, er, err)
}

// retry runs fn until it succeeds, fails with a non-retriable error, or the
// retry timeout is spent.
func (h *errorHandler) retry(ctx context.Context, fn func() error) error {
	var deadline time.Time
	if h.cc.retryTimeout > 0 {
		deadline = time.Now().Add(h.cc.retryTimeout)
	}
	backoff := initialBackof
	for {
		err := fn()
		if err == nil || h.cc.retryTimeout == 0 {
			return err
		}
		// Declared past the nil check: errors.As's target escapes, and
		// this runs for every record's key, value and transforms (an
		// allocation per call was 2% of an S3 sink's CPU).
		var re *plugins.Retriable
		if !errors.As(err, &re) {
			return err
		}
		if h.cc.retryTimeout > 0 && time.Now().Add(backoff).After(deadline) {
			return err
		}
		h.m.retries.WithLabelValues(h.connector, strconv.Itoa(h.task)).Inc()
		h.log.Debug("retrying after a retriable error", "err", err, "backoff", backoff)
		if err := h.sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(backoff*2, h.cc.retryDelayMax)
	}
}

// fail counts err, and when errors.tolerance=all reports the record and
// returns errTolerated; otherwise returns the error for the task to fail.
func (h *errorHandler) fail(ctx context.Context, st stage, class string, er *errantRecord, err error) error {
	h.m.errors.WithLabelValues(h.connector, strconv.Itoa(h.task), string(st)).Inc()
	if !h.cc.tolerateAll {
		return fmt.Errorf("tolerance exceeded in error handler: stage %s (%s): %w", st, class, err)
	}
	if h.cc.logErrors {
		attrs := []any{"stage", st, "class", class, "err", err}
		if er != nil {
			attrs = append(attrs, "topic", er.topic, "partition", er.partition, "offset", er.offset)
			if h.cc.logMessages && er.rec != nil {
				attrs = append(attrs, "record", fmt.Sprintf("key=%v value=%v timestamp=%v", er.rec.Key, er.rec.Value, er.rec.Timestamp))
			}
		}
		h.log.Error("error encountered in task; record skipped (errors.tolerance=all)", attrs...)
	}
	if h.prod != nil && h.cc.dlqTopic != "" && er != nil {
		if derr := h.deadLetter(ctx, st, class, er, err); derr != nil {
			// Kafka fails the task when the DLQ write fails: nothing may be lost silently.
			return fmt.Errorf("write to dead letter queue %s: %w", h.cc.dlqTopic, derr)
		}
	}
	return errTolerated
}

func (h *errorHandler) deadLetter(ctx context.Context, st stage, class string, er *errantRecord, cause error) error {
	if er.fill != nil {
		er.fill(er)
		er.fill = nil
	}
	r := &kgo.Record{Topic: h.cc.dlqTopic, Key: er.key, Value: er.value, Headers: append([]kgo.RecordHeader(nil), er.headers...)}
	if h.cc.dlqHeaders {
		add := func(k, v string) { r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)}) }
		if er.topic != "" {
			add(hdrTopic, er.topic)
		}
		if er.offset >= 0 {
			add(hdrPartition, strconv.Itoa(int(er.partition)))
			add(hdrOffset, strconv.FormatInt(er.offset, 10))
		}
		add(hdrConnector, h.connector)
		add(hdrTask, strconv.Itoa(h.task))
		add(hdrStage, string(st))
		add(hdrClass, class)
		add(hdrExClass, fmt.Sprintf("%T", rootCause(cause)))
		add(hdrExMessage, h.secrets.mask(cause.Error()))
		add(hdrExStack, h.secrets.mask(fmt.Sprintf("%+v", cause)))
	}
	if err := h.prod.ProduceSync(ctx, r).FirstErr(); err != nil {
		return err
	}
	h.m.deadLettered.WithLabelValues(h.connector, strconv.Itoa(h.task)).Inc()
	return nil
}

// retryingErr is the status trace of a RUNNING task that keeps retrying a
// retriable error: operators see why nothing moves without the task
// failing (Kafka Connect shows nothing until it gives up).
func retryingErr(op string, err error) error {
	return fmt.Errorf("retrying %s after a retriable error: %w", op, err)
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
