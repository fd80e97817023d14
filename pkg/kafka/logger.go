package kafka

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// SaramaLogger adapts a zap logger to sarama's StdLogger. sarama logs
// connection and rebalance chatter, so the lines go out at debug level.
func SaramaLogger(log *zap.Logger) sarama.StdLogger {
	return saramaLogger{log: log.WithOptions(zap.AddCallerSkip(1)).With(zap.String("component", "sarama"))}
}

// current is where sarama's lines go; UseLogger changes it.
var current atomic.Pointer[sarama.StdLogger]

// sarama keeps its logger in a package variable that its goroutines read
// without synchronisation, so it is set here, before any goroutine can exist,
// to a proxy; UseLogger only swaps, atomically, where the proxy writes.
func init() {
	UseLogger(zap.NewNop())
	sarama.Logger = proxyLogger{}
}

// UseLogger sends sarama's log lines to log, at debug level. It affects every
// sarama client in the process.
func UseLogger(log *zap.Logger) {
	l := SaramaLogger(log)
	current.Store(&l)
}

// proxyLogger forwards to the logger UseLogger stored last.
type proxyLogger struct{}

func (proxyLogger) Print(v ...any) { (*current.Load()).Print(v...) }

func (proxyLogger) Printf(format string, v ...any) { (*current.Load()).Printf(format, v...) }

func (proxyLogger) Println(v ...any) { (*current.Load()).Println(v...) }

type saramaLogger struct{ log *zap.Logger }

func (l saramaLogger) Print(v ...any) { l.write(fmt.Sprint(v...)) }

func (l saramaLogger) Printf(format string, v ...any) { l.write(fmt.Sprintf(format, v...)) }

func (l saramaLogger) Println(v ...any) { l.write(fmt.Sprintln(v...)) }

func (l saramaLogger) write(s string) {
	if ce := l.log.Check(zap.DebugLevel, strings.TrimRight(s, "\n")); ce != nil {
		ce.Write()
	}
}
