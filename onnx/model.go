package onnx

import (
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/eabs/eabs/internal/atomicfile"
	"github.com/eabs/eabs/onnx/internal/onnxpb"
)

// The defaults of Model: opset 13 and IR version 7, which ONNX Runtime 1.24 and the
// onnx 1.12 checker both accept, and which every operator eabs emits exists in.
const (
	DefaultOpset     = 13
	DefaultIRVersion = 7
	DefaultProducer  = "eabs"
)

// Model is a graph with the model-level fields of an ONNX file.
type Model struct {
	Graph           *Graph
	Opset           int64 // version of the default operator set; 0 means DefaultOpset
	IRVersion       int64 // 0 means DefaultIRVersion
	ProducerName    string
	ProducerVersion string
	DocString       string
	// Metadata becomes metadata_props, written in key order so that equal models
	// give equal bytes.
	Metadata map[string]string
}

func (m *Model) proto() (*onnxpb.ModelProto, error) {
	if m.Graph == nil {
		return nil, fmt.Errorf("onnx: model has no graph")
	}
	g, err := m.Graph.proto()
	if err != nil {
		return nil, err
	}
	opset, ir, producer := m.Opset, m.IRVersion, m.ProducerName
	if opset == 0 {
		opset = DefaultOpset
	}
	if ir == 0 {
		ir = DefaultIRVersion
	}
	if producer == "" {
		producer = DefaultProducer
	}
	p := &onnxpb.ModelProto{
		IrVersion:       ir,
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: "", Version: opset}},
		ProducerName:    producer,
		ProducerVersion: m.ProducerVersion,
		DocString:       m.DocString,
		Graph:           g,
	}
	keys := make([]string, 0, len(m.Metadata))
	for k := range m.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.MetadataProps = append(p.MetadataProps, &onnxpb.StringStringEntryProto{Key: k, Value: m.Metadata[k]})
	}
	return p, nil
}

// Marshal encodes the model in the ONNX protobuf format. The encoding is
// deterministic: the same model gives the same bytes.
func (m *Model) Marshal() ([]byte, error) {
	p, err := m.proto()
	if err != nil {
		return nil, err
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("onnx: marshal: %w", err)
	}
	return b, nil
}

// WriteFile writes the model to path atomically: a reader never sees a partial file.
func (m *Model) WriteFile(path string) error {
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, b)
}
