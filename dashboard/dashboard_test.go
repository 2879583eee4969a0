package dashboard

import (
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/futuresgen/futuresgen/dashboard/internal/board"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOptions(t *testing.T) {
	var got board.Config
	for _, o := range []Option{Token("t"), AllowHosts("a.example", "b.example"), AllowHosts("c.example"), Interval(time.Second)} {
		o(&got)
	}
	want := board.Config{Token: "t", AllowedHosts: []string{"a.example", "b.example", "c.example"}, Interval: time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("options = %+v; want %+v", got, want)
	}
}
