package kafka_test

import (
	"sync"
	"testing"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eventshop/eventshop/pkg/kafka"
)

func TestSaramaLinesGoToZapAtDebug(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.DebugLevel)
	l := kafka.SaramaLogger(zap.New(core))
	l.Printf("client/metadata fetching metadata for %d topics\n", 3)
	l.Println("consumergroup", "joined")
	entries := logs.AllUntimed()
	if len(entries) != 2 {
		t.Fatalf("got %d entries, want 2", len(entries))
	}
	if e := entries[0]; e.Level != zapcore.DebugLevel || e.Message != "client/metadata fetching metadata for 3 topics" {
		t.Errorf("entry = %v %q", e.Level, e.Message)
	}
	if got := entries[1].ContextMap()["component"]; got != "sarama" {
		t.Errorf("component = %v, want sarama", got)
	}
}

func TestUseLoggerRoutesSaramaLinesAndIsSafeWhileSaramaLogs(t *testing.T) {
	// Not parallel: it points sarama's process-wide logger at its observer.
	core, logs := observer.New(zapcore.DebugLevel)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				if i%2 == 0 {
					kafka.UseLogger(zap.New(core))
				} else {
					sarama.Logger.Printf("line %d", i)
				}
			}
		})
	}
	wg.Wait()
	kafka.UseLogger(zap.New(core))
	sarama.Logger.Println("after the swap")
	if n := logs.FilterMessage("after the swap").Len(); n != 1 {
		t.Errorf("sarama's line reached zap %d times, want 1", n)
	}
	kafka.UseLogger(zap.NewNop())
}
