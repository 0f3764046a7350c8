package upsert

import (
	"fmt"
	"regexp"
	"time"
)

// apiName is a Salesforce API name: names from configuration go into SOQL,
// so nothing else is accepted.
var apiName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,79}$`)

// Config tunes an Upserter. The zero value is usable: every zero field takes
// the default named in its comment.
type Config struct {
	// Partitions must equal the CONTACTS stream's partition count. Default 16.
	Partitions int `envconfig:"SYNC_PARTITIONS" default:"16" desc:"CONTACTS partitions; must match the stream"`
	// BatchSize is the most deltas pulled and sent in one collections call. Default 200 (the Salesforce maximum).
	BatchSize int `envconfig:"SYNC_BATCH_SIZE" default:"200" desc:"deltas per Salesforce collections call, 1..200"`
	// Linger is how long a partition's pull waits to fill its batch. Default 25ms.
	Linger time.Duration `envconfig:"SYNC_LINGER" default:"25ms" desc:"how long a partition's pull waits to fill its batch"`
	// MaxDelay is the freshness budget: a Collections call carries the
	// batches of every partition this member holds and goes out when it has
	// BatchSize records or when its oldest delta has waited this long since
	// it was published. Longer means fuller calls (fewer API calls per delta
	// at low arrival rates), shorter means fresher data. Default 5s.
	MaxDelay time.Duration `envconfig:"SYNC_MAX_DELAY" default:"5s" desc:"freshness budget: a Salesforce call goes out when full or when its oldest delta has waited this long"`
	// MaxDelayCap bounds how far MaxDelay stretches when the org's projected
	// daily API use exceeds APIBudget. Default 1m.
	MaxDelayCap time.Duration `envconfig:"SYNC_MAX_DELAY_CAP" default:"1m" desc:"how far SYNC_MAX_DELAY may stretch under API pressure"`
	// APIBudget is the share (0..1] of the org's daily API allocation this
	// fleet may use; when the org's recent call rate projects above it over
	// a day, the freshness budget stretches (fuller calls, fewer of them).
	// Default 1.
	APIBudget float64 `envconfig:"SF_API_BUDGET" default:"1" desc:"share of the daily API allocation this fleet may use before it stretches SYNC_MAX_DELAY"`
	// Object is the sObject written. Default "Contact".
	Object string `envconfig:"SYNC_OBJECT" default:"Contact" desc:"sObject written"`
	// ExternalIDField is the upsert key. Default "External_Contact_ID__c".
	ExternalIDField string `envconfig:"SF_EXTERNAL_ID_FIELD" default:"External_Contact_ID__c" desc:"external ID field used as the upsert key"`
	// AckWait is the consumers' redelivery timeout; a long batch signals progress well inside it. Default 30s.
	AckWait time.Duration `envconfig:"SYNC_ACK_WAIT" default:"30s" desc:"redelivery timeout of the partition consumers"`
	// LeaseTTL is how long a partition's lease outlives its holder's last
	// renewal: a crashed member's partitions move after it. The holder
	// renews every LeaseTTL/4 and stops writing at 3/4 of it. Default 10s.
	LeaseTTL time.Duration `envconfig:"SYNC_LEASE_TTL" default:"10s" desc:"how long a silent owner's partition lease lasts before another member may take it"`
	// VersionField is the Contact number field every write sets to the
	// delta's version, guarded by the Sync_Version_Monotonic validation rule
	// (deployments/salesforce) so Salesforce itself refuses an older version.
	// "none" turns it off. Default "Sync_Version__c".
	VersionField string `envconfig:"SYNC_VERSION_FIELD" default:"Sync_Version__c" desc:"Contact field carrying the delta version (refused by a validation rule when older); none = off"`
	// Heartbeat is the fleet membership heartbeat period (the members bucket TTL is 6s). Default 2s.
	Heartbeat time.Duration `envconfig:"SYNC_HEARTBEAT" default:"2s" desc:"fleet membership heartbeat (members bucket TTL is 6s)"`
	// MaxDeliver bounds redeliveries of one message (crash loops); the last delivery goes to the DLQ. Default 20.
	MaxDeliver int `envconfig:"SYNC_MAX_DELIVER" default:"20" desc:"deliveries before a crash-looping delta goes to the DLQ"`
	// RecordRetryMaxElapsed bounds retries of a record that keeps failing with a
	// transient per-record error (e.g. UNABLE_TO_LOCK_ROW); then it goes to the DLQ. Default 2m.
	RecordRetryMaxElapsed time.Duration `envconfig:"SYNC_RECORD_RETRY_MAX" default:"2m" desc:"retry budget of a record failing transiently, then DLQ"`
	// UsagePauseAt pauses the worker when Salesforce reports this fraction of
	// the daily API allocation used (Sforce-Limit-Info). Default 0.9.
	UsagePauseAt float64 `envconfig:"SF_API_USAGE_PAUSE_AT" default:"0.9" desc:"pause writes at this share of the daily API allocation"`
	// LimitCheckInterval is how often a paused worker asks /limits whether the allocation has freed up. Default 1m.
	LimitCheckInterval time.Duration `envconfig:"SF_LIMIT_CHECK_INTERVAL" default:"1m" desc:"how often a paused worker checks /limits"`
	// ShutdownTimeout bounds the finish of in-flight batches on Stop. Default 25s.
	ShutdownTimeout time.Duration `envconfig:"SYNC_SHUTDOWN_TIMEOUT" default:"25s" desc:"time to finish in-flight batches on shutdown"`
	// Member names this fleet member; empty = hostname-pid-random.
	Member string `envconfig:"SYNC_MEMBER" desc:"fleet member name; empty = hostname-pid-random"`
}

// Defaults, stated once: setDefaults fills zero fields from these, and
// other packages show or build on them.
const (
	DefaultPartitions            = 16
	DefaultBatchSize             = 200 // the Collections maximum
	DefaultLinger                = 25 * time.Millisecond
	DefaultMaxDelay              = 5 * time.Second
	DefaultMaxDelayCap           = time.Minute
	DefaultAckWait               = 30 * time.Second
	DefaultLeaseTTL              = 10 * time.Second
	DefaultVersionField          = "Sync_Version__c"
	DefaultHeartbeat             = 2 * time.Second
	DefaultMaxDeliver            = 20
	DefaultRecordRetryMaxElapsed = 2 * time.Minute
	DefaultUsagePauseAt          = 0.9
	DefaultLimitCheckInterval    = time.Minute
	DefaultShutdownTimeout       = 25 * time.Second
	DefaultObject                = "Contact"
	DefaultExternalIDField       = "External_Contact_ID__c"
)

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Partitions, DefaultPartitions)
	def(&c.BatchSize, DefaultBatchSize)
	def(&c.MaxDeliver, DefaultMaxDeliver)
	defd(&c.Linger, DefaultLinger)
	defd(&c.MaxDelay, DefaultMaxDelay)
	defd(&c.MaxDelayCap, DefaultMaxDelayCap)
	if c.APIBudget == 0 {
		c.APIBudget = 1
	}
	defd(&c.AckWait, DefaultAckWait)
	defd(&c.LeaseTTL, DefaultLeaseTTL)
	defd(&c.Heartbeat, DefaultHeartbeat)
	defd(&c.RecordRetryMaxElapsed, DefaultRecordRetryMaxElapsed)
	defd(&c.LimitCheckInterval, DefaultLimitCheckInterval)
	defd(&c.ShutdownTimeout, DefaultShutdownTimeout)
	if c.Object == "" {
		c.Object = DefaultObject
	}
	if c.ExternalIDField == "" {
		c.ExternalIDField = DefaultExternalIDField
	}
	switch c.VersionField {
	case "":
		c.VersionField = DefaultVersionField
	case "none", "off", "-":
		c.VersionField = ""
	}
	if c.UsagePauseAt == 0 {
		c.UsagePauseAt = DefaultUsagePauseAt
	}
}

func (c *Config) validate() error {
	switch {
	case c.Partitions < 1 || c.Partitions > 1024:
		return fmt.Errorf("upsert: Partitions (SYNC_PARTITIONS) = %d, want 1..1024", c.Partitions)
	case c.BatchSize < 1 || c.BatchSize > 200:
		return fmt.Errorf("upsert: BatchSize (SYNC_BATCH_SIZE) = %d, want 1..200 (the collections limit)", c.BatchSize)
	case c.UsagePauseAt <= 0 || c.UsagePauseAt > 1:
		return fmt.Errorf("upsert: UsagePauseAt (SF_API_USAGE_PAUSE_AT) = %v, want (0, 1]", c.UsagePauseAt)
	case c.MaxDeliver < 2:
		return fmt.Errorf("upsert: MaxDeliver (SYNC_MAX_DELIVER) = %d, want >= 2", c.MaxDeliver)
	case c.Heartbeat >= 6*time.Second:
		return fmt.Errorf("upsert: Heartbeat (SYNC_HEARTBEAT) = %v, want < 6s (the members bucket TTL)", c.Heartbeat)
	case c.AckWait < time.Second:
		return fmt.Errorf("upsert: AckWait (SYNC_ACK_WAIT) = %v, want >= 1s", c.AckWait)
	case c.VersionField != "" && !apiName.MatchString(c.VersionField):
		return fmt.Errorf("upsert: VersionField (SYNC_VERSION_FIELD) = %q, want a field API name such as Sync_Version__c, or none", c.VersionField)
	case !apiName.MatchString(c.Object):
		return fmt.Errorf("upsert: Object (SYNC_OBJECT) = %q, want an sObject API name", c.Object)
	case c.MaxDelay < 0 || c.MaxDelay > 10*time.Minute:
		return fmt.Errorf("upsert: MaxDelay (SYNC_MAX_DELAY) = %v, want 1ms..10m", c.MaxDelay)
	case c.MaxDelay >= c.AckWait:
		return fmt.Errorf("upsert: MaxDelay (SYNC_MAX_DELAY) = %v, want below SYNC_ACK_WAIT (%v)", c.MaxDelay, c.AckWait)
	case c.MaxDelayCap < c.MaxDelay:
		return fmt.Errorf("upsert: MaxDelayCap (SYNC_MAX_DELAY_CAP) = %v, want >= SYNC_MAX_DELAY (%v)", c.MaxDelayCap, c.MaxDelay)
	case c.APIBudget <= 0 || c.APIBudget > 1:
		return fmt.Errorf("upsert: APIBudget (SF_API_BUDGET) = %v, want (0, 1]", c.APIBudget)
	case c.LeaseTTL < time.Second:
		return fmt.Errorf("upsert: LeaseTTL (SYNC_LEASE_TTL) = %v, want >= 1s", c.LeaseTTL)
	}
	return nil
}
