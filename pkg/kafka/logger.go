package kafka

import (
	"fmt"
	"strings"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// SaramaLogger adapts a zap logger to sarama's StdLogger. sarama logs
// connection and rebalance chatter, so the lines go out at debug level.
func SaramaLogger(log *zap.Logger) sarama.StdLogger {
	return saramaLogger{log: log.WithOptions(zap.AddCallerSkip(1)).With(zap.String("component", "sarama"))}
}

// UseLogger sends sarama's log lines to log. sarama keeps its logger in a
// package variable, so this affects every sarama client in the process;
// call it once from main.
func UseLogger(log *zap.Logger) { sarama.Logger = SaramaLogger(log) }

type saramaLogger struct{ log *zap.Logger }

func (l saramaLogger) Print(v ...any) { l.write(fmt.Sprint(v...)) }

func (l saramaLogger) Printf(format string, v ...any) { l.write(fmt.Sprintf(format, v...)) }

func (l saramaLogger) Println(v ...any) { l.write(fmt.Sprintln(v...)) }

func (l saramaLogger) write(s string) {
	if ce := l.log.Check(zap.DebugLevel, strings.TrimRight(s, "\n")); ce != nil {
		ce.Write()
	}
}
