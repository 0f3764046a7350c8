package salesforce

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Bulk API 2.0 CSV rules, as this client writes them (Salesforce's
// "Prepare CSV files" and the Bulk limits page):
//   - UTF-8, a header row of API field names, one record per row, LF line
//     ends (the job says lineEnding LF), comma delimiter;
//   - a cell is quoted when it holds the delimiter, a double quote, CR or
//     LF, or leading/trailing spaces; a quote inside is doubled;
//   - an empty cell leaves the field as it is (on update/upsert); "#N/A"
//     sets it to null (documented for Bulk 1.0 and observed on 2.0; the
//     reference marks it unconfirmed for 2.0, so BulkEncoder.NullValue can
//     change it);
//   - a field value is at most 32,000 characters, a record at most
//     400,000.

// Bulk API limits the encoder checks.
const (
	// DefaultBulkUploadBytes is where BulkEncoder starts a new upload (a
	// new job: Salesforce takes one upload per job). Salesforce caps an
	// upload at 150 MB after base64 encoding and advises at most 100 MB.
	DefaultBulkUploadBytes = 100 << 20
	// MaxBulkFieldChars and MaxBulkRecordChars are Salesforce's limits on
	// one field value and one record of a Bulk upload.
	MaxBulkFieldChars  = 32000
	MaxBulkRecordChars = 400000
	// BulkNull is the cell value that sets a field to null.
	BulkNull = "#N/A"
)

// RowError is a record the encoder could not write: the index of the
// record in the input and why. The rest of the input is encoded all the
// same.
type RowError struct {
	Index int
	Field string
	Err   error
}

func (e *RowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("salesforce: bulk record %d: %v", e.Index, e.Err)
	}
	return fmt.Sprintf("salesforce: bulk record %d, field %s: %v", e.Index, e.Field, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// ErrNotEncodable marks a value that cannot be written to a Bulk CSV.
var ErrNotEncodable = errors.New("value cannot be encoded for Bulk API")

// BulkChunk is one upload: a CSV with its header, and which input records
// it holds (Rows[i] is the input index of its i-th data row).
type BulkChunk struct {
	Data []byte
	Rows []int
}

// BulkEncoder turns records into Bulk CSV uploads of at most MaxBytes each.
// The zero value is not usable; see NewBulkEncoder.
type BulkEncoder struct {
	fields []string
	// MaxBytes bounds one upload (header included); default
	// DefaultBulkUploadBytes.
	MaxBytes int
	// NullValue is what a nil value becomes; default "#N/A".
	NullValue string

	header []byte
	cur    BulkChunk
	chunks []BulkChunk
	errs   []*RowError
	n      int
	line   bytes.Buffer
}

// NewBulkEncoder starts an encoder for the given columns, in order. A
// record lacking a column leaves that cell empty (the field is not
// changed); a nil value is written as NullValue.
func NewBulkEncoder(fields []string) *BulkEncoder {
	e := &BulkEncoder{fields: fields, MaxBytes: DefaultBulkUploadBytes, NullValue: BulkNull}
	var b bytes.Buffer
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quoteCell(f))
	}
	b.WriteByte('\n')
	e.header = b.Bytes()
	return e
}

// Add encodes the next record (its index is the count of Add calls so far).
// A record that cannot be encoded is left out and returned as a *RowError
// (also kept for Rejected); it never ends up in an upload.
func (e *BulkEncoder) Add(r Record) error {
	idx := e.n
	e.n++
	e.line.Reset()
	chars := 0
	for i, f := range e.fields {
		if i > 0 {
			e.line.WriteByte(',')
		}
		v, ok := r[f]
		if !ok {
			continue
		}
		cell, err := e.cell(v)
		if err == nil && utf8.RuneCountInString(cell) > MaxBulkFieldChars {
			err = fmt.Errorf("%w: %d characters (Bulk API allows %d per field)", ErrNotEncodable, utf8.RuneCountInString(cell), MaxBulkFieldChars)
		}
		if err != nil {
			re := &RowError{Index: idx, Field: f, Err: err}
			e.errs = append(e.errs, re)
			return re
		}
		chars += len(cell)
		e.line.WriteString(quoteCell(cell))
	}
	if chars > MaxBulkRecordChars {
		re := &RowError{Index: idx, Err: fmt.Errorf("%w: record of %d characters (Bulk API allows %d)", ErrNotEncodable, chars, MaxBulkRecordChars)}
		e.errs = append(e.errs, re)
		return re
	}
	e.line.WriteByte('\n')
	if len(e.header)+e.line.Len() > e.MaxBytes {
		re := &RowError{Index: idx, Err: fmt.Errorf("%w: one record is larger than the upload limit of %d bytes", ErrNotEncodable, e.MaxBytes)}
		e.errs = append(e.errs, re)
		return re
	}
	if len(e.cur.Data)+e.line.Len() > e.MaxBytes {
		e.chunks = append(e.chunks, e.cur)
		e.cur = BulkChunk{}
	}
	if e.cur.Data == nil {
		e.cur.Data = append(make([]byte, 0, 64<<10), e.header...)
	}
	e.cur.Data = append(e.cur.Data, e.line.Bytes()...)
	e.cur.Rows = append(e.cur.Rows, idx)
	return nil
}

// Chunks ends the input and returns the uploads (none when every record
// was rejected or there were none).
func (e *BulkEncoder) Chunks() []BulkChunk {
	if len(e.cur.Rows) > 0 {
		e.chunks = append(e.chunks, e.cur)
		e.cur = BulkChunk{}
	}
	return e.chunks
}

// Rejected returns the records left out, in input order.
func (e *BulkEncoder) Rejected() []*RowError { return e.errs }

// cell renders one value as Bulk CSV text (unquoted).
func (e *BulkEncoder) cell(v any) (string, error) {
	var s string
	switch x := v.(type) {
	case nil:
		return e.NullValue, nil
	case string:
		s = x
	case bool:
		s = strconv.FormatBool(x)
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case int32:
		s = strconv.FormatInt(int64(x), 10)
	case uint64:
		s = strconv.FormatUint(x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("%w: %v", ErrNotEncodable, x)
		}
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		s = x.String()
	case time.Time:
		s = x.UTC().Format("2006-01-02T15:04:05.000Z")
	default:
		return "", fmt.Errorf("%w: a %T (want a string, number, bool, time or nil)", ErrNotEncodable, v)
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrNotEncodable)
	}
	if strings.ContainsRune(s, 0) {
		return "", fmt.Errorf("%w: contains a NUL character", ErrNotEncodable)
	}
	if s == "" && v != nil {
		// An empty cell would mean "leave unchanged"; an empty value is
		// null in Salesforce.
		return e.NullValue, nil
	}
	return s, nil
}

// quoteCell quotes s when CSV needs it.
func quoteCell(s string) string {
	if s == "" || !strings.ContainsAny(s, ",\"\r\n") && s[0] != ' ' && s[len(s)-1] != ' ' {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// ParseBulkError splits an sf__Error cell, CODE:message:fields (fields
// comma-separated, "--" for none), into a RecordError that classifies like
// a collections error.
func ParseBulkError(s string) RecordError {
	code, rest, ok := strings.Cut(s, ":")
	if !ok {
		return RecordError{StatusCode: CodeUnknownException, Message: s}
	}
	e := RecordError{StatusCode: code, Message: rest}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		e.Message = rest[:i]
		if f := rest[i+1:]; f != "--" && f != "" {
			e.Fields = strings.Split(f, ",")
		}
	}
	return e
}

// readCSV parses a whole result file.
func readCSV(data []byte, delim rune) ([][]string, error) {
	rd := csv.NewReader(bytes.NewReader(data))
	rd.Comma = delim
	rd.FieldsPerRecord = 0
	var out [][]string
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
}
