package service_test

import (
	"context"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/pkg/service"
)

// bufferedStderr stands for the log's buffered stderr: lines written wait
// in the buffer until Sync writes them out, then Sync returns syncErr, as
// fsync on stderr does. With writeFails, Sync writes nothing.
type bufferedStderr struct {
	syncErr    error
	writeFails bool

	mu      sync.Mutex
	pending []string
	written []string
}

func (b *bufferedStderr) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = append(b.pending, string(p))
	return len(p), nil
}

func (b *bufferedStderr) Sync() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.writeFails {
		return &fs.PathError{Op: "write", Path: "/dev/stderr", Err: syscall.EPIPE}
	}
	b.written = append(b.written, b.pending...)
	b.pending = nil
	return b.syncErr
}

func (b *bufferedStderr) wasWritten(line string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, w := range b.written {
		if strings.Contains(w, line) {
			return true
		}
	}
	return false
}

// TestConsumersCommitOnlyWhatTheLogWrote runs an App whose consumers log a
// line per message, a notification, through a buffered log, and reads the
// offsets its group committed. A refused fsync, as on a pipe or a terminal,
// must not stop the commits, and every message committed must have its line
// written; a failed write must hold the commits back.
func TestConsumersCommitOnlyWhatTheLogWrote(t *testing.T) {
	t.Parallel()
	const n = 20
	tests := []struct {
		name        string
		batch       bool
		stderr      *bufferedStderr
		wantCommits bool
	}{
		{"Consume, stderr on a pipe", false,
			&bufferedStderr{syncErr: &fs.PathError{Op: "sync", Path: "/dev/stderr", Err: syscall.EINVAL}}, true},
		{"ConsumeBatch, stderr on a terminal", true,
			&bufferedStderr{syncErr: &fs.PathError{Op: "sync", Path: "/dev/stderr", Err: syscall.ENOTTY}}, true},
		{"Consume, stderr's reader gone", false, &bufferedStderr{writeFails: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kc := kafkatest.Config(t)
			topic := kafkatest.Topic(t, kc, "notified", 1)
			base := service.DefaultBase("127.0.0.1:0")
			base.KafkaBrokers = kc.Brokers
			base.DeadLetterTopic = kafkatest.Name(t, "dlt")
			log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), tc.stderr, zap.InfoLevel))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			app, err := service.New(ctx, "test-service", base, log)
			if err != nil {
				t.Fatal(err)
			}

			var handled atomic.Int32
			notify := func(m *kafka.Message) {
				app.Log.Info("notified", zap.String("customer", "customer-"+string(m.Value)))
				handled.Add(1)
			}
			group := kafkatest.Name(t, "group")
			if tc.batch {
				err = app.ConsumeBatch(app.GroupConfig(group, []string{topic}), func(context.Context, kafka.Claim) (kafka.BatchHandler, error) {
					return func(_ context.Context, msgs []*kafka.Message) error {
						for _, m := range msgs {
							notify(m)
						}
						return nil
					}, nil
				})
			} else {
				err = app.Consume(group, []string{topic}, func(_ context.Context, m *kafka.Message) error {
					notify(m)
					return nil
				})
			}
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- app.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			}()

			recs := make([]kafka.Record, n)
			for i := range recs {
				recs[i] = kafka.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}
			}
			if err := app.Publisher().Publish(ctx, recs...); err != nil {
				t.Fatal(err)
			}
			kafkatest.Eventually(t, 15*time.Second, func() bool { return handled.Load() == n }, "not every record was handled")

			if !tc.wantCommits {
				time.Sleep(time.Second) // five commit intervals
				if off := committed(t, kc, group, topic); off >= 0 {
					t.Fatalf("committed %d while the log could not be written", off)
				}
				return
			}
			kafkatest.Eventually(t, 15*time.Second, func() bool { return committed(t, kc, group, topic) == n },
				"the group did not commit all %d records", n)
			for i := range n {
				if line := "customer-" + strconv.Itoa(i); !tc.stderr.wasWritten(line) {
					t.Errorf("offset %d is committed but the line of %s was not written", i, line)
				}
			}
		})
	}
}

// committed returns the offset group committed on partition 0 of topic, or
// -1 if none.
func committed(t *testing.T, kc kafka.Config, group, topic string) int64 {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version, _ = sarama.ParseKafkaVersion(kc.Version)
	admin, err := sarama.NewClusterAdmin(kc.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0}})
	if err != nil {
		t.Fatal(err)
	}
	if block := resp.GetBlock(topic, 0); block != nil {
		return block.Offset
	}
	return -1
}
