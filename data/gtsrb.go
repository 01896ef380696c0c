package data

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// gtsrbDir is where the official GTSRB archives unpack inside the root.
const gtsrbDir = "gtsrb/GTSRB"

// GTSRB geometry: every image is resized to gtsrbSide x gtsrbSide RGB, as in the paper.
const (
	gtsrbClasses = 43
	gtsrbSide    = 32
	// gtsrb10MinSide is the paper's filter: images smaller than 32x32 are dropped.
	gtsrb10MinSide = 32
	gtsrb10Classes = 10
)

// gtsrbNames are the 43 GTSRB class names, in class id order, as commonly published
// with the benchmark (signnames.csv).
var gtsrbNames = []string{
	"Speed limit (20km/h)", "Speed limit (30km/h)", "Speed limit (50km/h)",
	"Speed limit (60km/h)", "Speed limit (70km/h)", "Speed limit (80km/h)",
	"End of speed limit (80km/h)", "Speed limit (100km/h)", "Speed limit (120km/h)",
	"No passing", "No passing for vehicles over 3.5 metric tons",
	"Right-of-way at the next intersection", "Priority road", "Yield", "Stop",
	"No vehicles", "Vehicles over 3.5 metric tons prohibited", "No entry",
	"General caution", "Dangerous curve to the left", "Dangerous curve to the right",
	"Double curve", "Bumpy road", "Slippery road", "Road narrows on the right",
	"Road work", "Traffic signals", "Pedestrians", "Children crossing",
	"Bicycles crossing", "Beware of ice/snow", "Wild animals crossing",
	"End of all speed and passing limits", "Turn right ahead", "Turn left ahead",
	"Ahead only", "Go straight or right", "Go straight or left", "Keep right",
	"Keep left", "Roundabout mandatory", "End of no passing",
	"End of no passing by vehicles over 3.5 metric tons",
}

// GTSRBRow is one row of a GTSRB annotation CSV. Width and Height are the size of the
// original image, which need not be the size of the PPM at hand (copies that were
// resized keep the original CSVs). The ROI is not used: images are resized whole.
type GTSRBRow struct {
	Filename                   string
	Width, Height              int
	RoiX1, RoiY1, RoiX2, RoiY2 int
	ClassID                    int
}

// gtsrbColumns is the official header; ReadGTSRBCSV finds columns by name, so the order
// may differ, but all must be present.
var gtsrbColumns = []string{"Filename", "Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId"}

// ReadGTSRBCSV reads a GTSRB annotation file (semicolon separated, header
// "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"). A bad row is a
// FormatError naming file, line and field. Filenames must be plain names (no
// directories), so a CSV cannot point outside its folder.
func ReadGTSRBCSV(r io.Reader, file string) ([]GTSRBRow, error) {
	cr := csv.NewReader(r)
	cr.Comma = ';'
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, formatErr(file, "empty GTSRB CSV: want header %s", strings.Join(gtsrbColumns, ";"))
		}
		return nil, csvErr(file, err)
	}
	col := make(map[string]int)
	for i, h := range head {
		col[strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF"))] = i
	}
	idx := make([]int, len(gtsrbColumns))
	for i, name := range gtsrbColumns {
		j, ok := col[name]
		if !ok {
			msg := fmt.Sprintf("GTSRB CSV header has no %s column (header %q, want %s)",
				name, strings.Join(head, ";"), strings.Join(gtsrbColumns, ";"))
			if name == "ClassId" {
				msg += "; the test CSV without labels (GT-final_test.test.csv) is not enough: use GT-final_test.csv from GTSRB_Final_Test_GT.zip"
			}
			return nil, &FormatError{File: file, Msg: msg}
		}
		idx[i] = j
	}
	var rows []GTSRBRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, csvErr(file, err)
		}
		line, _ := cr.FieldPos(0)
		var row GTSRBRow
		row.Filename = rec[idx[0]]
		if row.Filename == "" || strings.ContainsAny(row.Filename, `/\`) || row.Filename == "." || row.Filename == ".." {
			return nil, formatErr(file, "line %d: bad Filename %q (want a plain file name)", line, row.Filename)
		}
		ints := []*int{&row.Width, &row.Height, &row.RoiX1, &row.RoiY1, &row.RoiX2, &row.RoiY2, &row.ClassID}
		for k, p := range ints {
			name := gtsrbColumns[k+1]
			v, err := strconv.Atoi(strings.TrimSpace(rec[idx[k+1]]))
			if err != nil {
				return nil, formatErr(file, "line %d: %s %q is not an integer", line, name, rec[idx[k+1]])
			}
			if v < 0 {
				return nil, formatErr(file, "line %d: %s %d is negative", line, name, v)
			}
			*p = v
		}
		if row.Width < 1 || row.Height < 1 || row.Width > ppmMaxSide || row.Height > ppmMaxSide {
			return nil, formatErr(file, "line %d: absurd image size %dx%d", line, row.Width, row.Height)
		}
		if row.ClassID >= gtsrbClasses {
			return nil, formatErr(file, "line %d: ClassId %d out of range (want 0 to %d)", line, row.ClassID, gtsrbClasses-1)
		}
		rows = append(rows, row)
	}
}

func csvErr(file string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return formatErr(file, "line %d: %v", pe.Line, pe.Err)
	}
	return readErr(file, err)
}

// gtsrbImage is one image to decode: its path and label in the output set.
type gtsrbImage struct {
	rel   string
	label int
}

// gtsrbPlan is what a GTSRB load reads, worked out from the CSVs alone.
type gtsrbPlan struct {
	csvs          []string
	train, test   []gtsrbImage
	names         []string
	sourceClasses []int
}

// gtsrbTestCSVs are where the labelled test CSV may be: beside Final_Test/Images (the
// layout here), inside it, or where GTSRB_Final_Test_GT.zip unpacks next to the folder.
var gtsrbTestCSVs = []string{
	gtsrbDir + "/Final_Test/GT-final_test.csv",
	gtsrbDir + "/Final_Test/Images/GT-final_test.csv",
	gtsrbDir + "/GT-final_test.csv",
	"gtsrb/GT-final_test.csv",
}

// planGTSRB reads the annotation CSVs and lists the images to load; ten selects the
// GTSRB-10 subset.
func planGTSRB(src *source, ten bool) (*gtsrbPlan, error) {
	trainDir := gtsrbDir + "/Final_Training/Images"
	if !src.isDir(trainDir) {
		return nil, notFound("directory %s not found (want the official GTSRB layout: %s/Final_Training/Images/000NN/GT-000NN.csv and *.ppm)",
			src.display(trainDir), src.display(gtsrbDir))
	}
	entries, err := src.readDir(trainDir)
	if err != nil {
		return nil, err
	}
	plan := &gtsrbPlan{}
	type row struct {
		dir string
		GTSRBRow
	}
	var trainRows []row
	for _, e := range entries {
		id, err := strconv.Atoi(e)
		if err != nil || fmt.Sprintf("%05d", id) != e || id >= gtsrbClasses {
			continue // not a class folder 00000 to 00042
		}
		dir := trainDir + "/" + e
		csvRel := dir + "/GT-" + e + ".csv"
		rows, err := src.readCSV(csvRel)
		if err != nil {
			return nil, err
		}
		plan.csvs = append(plan.csvs, csvRel)
		for i, r := range rows {
			if r.ClassID != id {
				return nil, formatErr(src.display(csvRel), "row %d: ClassId %d in the folder of class %d", i+1, r.ClassID, id)
			}
			trainRows = append(trainRows, row{dir, r})
		}
	}
	if len(plan.csvs) == 0 {
		return nil, notFound("no class folders 00000 to 00042 in %s", src.display(trainDir))
	}
	// Every class of the official layout must be there: a subset chosen by image counts
	// (GTSRB-10) would silently become another set of classes without one, and its
	// labels would then mean other signs.
	have := map[string]bool{}
	for _, c := range plan.csvs {
		have[path.Base(path.Dir(c))] = true
	}
	var missing []string
	for id := range gtsrbClasses {
		if d := fmt.Sprintf("%05d", id); !have[d] {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		return nil, notFound("%s lacks the class folder(s) %s (the official GTSRB training set has all 43, 00000 to 00042)",
			src.display(trainDir), strings.Join(missing, ", "))
	}
	testCSV, err := src.firstOf(gtsrbTestCSVs, "the labelled GTSRB test CSV GT-final_test.csv (from GTSRB_Final_Test_GT.zip)")
	if err != nil {
		return nil, err
	}
	testRows, err := src.readCSV(testCSV)
	if err != nil {
		return nil, err
	}
	plan.csvs = append(plan.csvs, testCSV)
	testDir := gtsrbDir + "/Final_Test/Images"

	keep := func(GTSRBRow) bool { return true }
	label := make([]int, gtsrbClasses) // original id -> new label, -1 dropped
	for i := range label {
		label[i] = i
	}
	plan.names = gtsrbNames
	if ten {
		keep = func(r GTSRBRow) bool { return r.Width >= gtsrb10MinSide && r.Height >= gtsrb10MinSide }
		count := make([]int, gtsrbClasses)
		for _, r := range trainRows {
			if keep(r.GTSRBRow) {
				count[r.ClassID]++
			}
		}
		ids := make([]int, gtsrbClasses)
		for i := range ids {
			ids[i] = i
		}
		// Most filtered training images first; SortStableFunc keeps lower ids first on ties.
		slices.SortStableFunc(ids, func(a, b int) int { return count[b] - count[a] })
		top := slices.Clone(ids[:gtsrb10Classes])
		if last := top[gtsrb10Classes-1]; count[last] == 0 {
			return nil, formatErr(src.display(trainDir), "GTSRB-10 needs %d classes with training images of at least %dx%d; only %d have any",
				gtsrb10Classes, gtsrb10MinSide, gtsrb10MinSide, slices.IndexFunc(ids, func(id int) bool { return count[id] == 0 }))
		}
		slices.Sort(top)
		for i := range label {
			label[i] = -1
		}
		plan.names = nil
		for k, id := range top {
			label[id] = k
			plan.names = append(plan.names, gtsrbNames[id])
		}
		plan.sourceClasses = top
	}
	for _, r := range trainRows {
		if keep(r.GTSRBRow) && label[r.ClassID] >= 0 {
			plan.train = append(plan.train, gtsrbImage{r.dir + "/" + r.Filename, label[r.ClassID]})
		}
	}
	for _, r := range testRows {
		if keep(r) && label[r.ClassID] >= 0 {
			plan.test = append(plan.test, gtsrbImage{testDir + "/" + r.Filename, label[r.ClassID]})
		}
	}
	return plan, nil
}

func gtsrbFiles(ten bool) func(src *source) ([]string, error) {
	return func(src *source) ([]string, error) {
		plan, err := planGTSRB(src, ten)
		if err != nil {
			return nil, err
		}
		files := slices.Clone(plan.csvs)
		for _, im := range slices.Concat(plan.train, plan.test) {
			files = append(files, im.rel)
		}
		return files, nil
	}
}

func gtsrbLoader(ten bool) func(src *source, opt Options) (train, test *Set, err error) {
	return func(src *source, opt Options) (train, test *Set, err error) {
		plan, err := planGTSRB(src, ten)
		if err != nil {
			return nil, nil, err
		}
		p := &progress{f: opt.Progress, total: len(plan.train) + len(plan.test)}
		var mu sync.Mutex
		tick := func() { mu.Lock(); p.add(1); mu.Unlock() }
		if train, err = decodeGTSRB(src, "train", plan.train, tick); err != nil {
			return nil, nil, err
		}
		if test, err = decodeGTSRB(src, "test", plan.test, tick); err != nil {
			return nil, nil, err
		}
		for _, s := range []*Set{train, test} {
			s.Classes = len(plan.names)
			s.ClassNames = plan.names
			s.SourceClasses = plan.sourceClasses
		}
		return train, test, nil
	}
}

// decodeGTSRB reads, decodes and resizes the images in parallel (one worker per CPU;
// the files are small, so the work is mostly PPM parsing and system calls).
func decodeGTSRB(src *source, split string, ims []gtsrbImage, tick func()) (*Set, error) {
	const size = 3 * gtsrbSide * gtsrbSide
	s := &Set{
		Name: split, N: len(ims), C: 3, H: gtsrbSide, W: gtsrbSide,
		Images: make([]float32, len(ims)*size),
		Labels: make([]int, len(ims)),
	}
	var (
		next    atomic.Int64
		failed  atomic.Bool
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(ims) {
					return
				}
				if err := decodeGTSRBImage(src, ims[i].rel, s.Images[i*size:(i+1)*size]); err != nil {
					errOnce.Do(func() { first = err })
					failed.Store(true)
					return
				}
				s.Labels[i] = ims[i].label
				tick()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return s, nil
}

func decodeGTSRBImage(src *source, rel string, dst []float32) error {
	b, err := src.readFile(rel)
	if err != nil {
		return err
	}
	m, err := ReadPPM(bytes.NewReader(b), src.display(rel))
	if err != nil {
		return err
	}
	if m.W != gtsrbSide || m.H != gtsrbSide {
		m = m.Resize(gtsrbSide, gtsrbSide)
	}
	m.planar(dst)
	return nil
}

// readCSV reads and parses one GTSRB CSV, recording its digest.
func (s *source) readCSV(rel string) ([]GTSRBRow, error) {
	b, err := s.readFile(rel)
	if err != nil {
		return nil, err
	}
	return ReadGTSRBCSV(bytes.NewReader(b), s.display(rel))
}
