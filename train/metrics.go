package train

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"strconv"

	"github.com/eabs/eabs/internal/atomicfile"
)

// metricsRow is one line of metrics.csv: one completed epoch.
type metricsRow struct {
	Epoch        int
	Steps        int
	LR           float64
	Loss         float64
	DiscLoss     float64
	TrainAcc     float64
	ValAcc       float64
	ImagesPerSec float64
	Seconds      float64
}

var metricsHeader = []string{"epoch", "steps", "lr", "loss", "disc_loss", "train_acc", "val_acc_amortized", "images_per_s", "train_seconds"}

func (r metricsRow) strings() []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	return []string{strconv.Itoa(r.Epoch), strconv.Itoa(r.Steps), f(r.LR), f(r.Loss), f(r.DiscLoss), f(r.TrainAcc), f(r.ValAcc), f(r.ImagesPerSec), f(r.Seconds)}
}

// metricsFile keeps the CSV's rows and rewrites the whole file atomically on each
// write, so a killed run never leaves a torn line and a resumed run does not repeat
// an epoch the checkpoint does not cover.
type metricsFile struct {
	path string
	rows [][]string
}

func openMetrics(path string, completed int) (*metricsFile, error) {
	m := &metricsFile{path: path}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	for i, r := range recs {
		if i == 0 {
			continue
		}
		if e, err := strconv.Atoi(r[0]); err == nil && e <= completed {
			m.rows = append(m.rows, r)
		}
	}
	return m, nil
}

func (m *metricsFile) write(r metricsRow) error {
	m.rows = append(m.rows, r.strings())
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(metricsHeader)
	w.WriteAll(m.rows)
	if err := w.Error(); err != nil {
		return err
	}
	return atomicfile.WriteBytes(m.path, buf.Bytes())
}

func (m *metricsFile) Close() error { return nil }
