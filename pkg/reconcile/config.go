package reconcile

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/contactsync/contactsync/pkg/worker"
)

// Config configures a Reconciler. Zero values mean the defaults.
type Config struct {
	// Durable is the consumer name (default "reconciler").
	Durable string `envconfig:"RECONCILER_DURABLE" desc:"durable consumer name (default reconciler)"`
	// BatchSize is the most events written per call (default and max 200).
	BatchSize int `envconfig:"RECONCILER_BATCH_SIZE" desc:"events per Salesforce call, 1..200 (default 200)"`
	// Linger is how long a batch waits to fill after its first event
	// (default 50ms; negative: take only what is already buffered).
	Linger time.Duration `envconfig:"RECONCILER_LINGER" desc:"wait to fill a batch (default 50ms)"`
	// MaxDeliver bounds deliveries of one event (default 10). The last
	// delivery that still fails goes to the DLQ instead of back.
	MaxDeliver int `envconfig:"RECONCILER_MAX_DELIVER" desc:"deliveries before an event is dead-lettered (default 10)"`
	// AckWait of the consumer (default 60s).
	AckWait time.Duration `envconfig:"RECONCILER_ACK_WAIT" desc:"consumer AckWait (default 60s)"`
	// CallTimeout bounds one Salesforce call (default 60s).
	CallTimeout time.Duration `envconfig:"RECONCILER_CALL_TIMEOUT" desc:"timeout of one Salesforce call (default 60s)"`
	// RetryInitial and RetryMax shape the backoff of transient whole-call
	// failures and of record redeliveries (defaults 500ms and 30s).
	RetryInitial time.Duration `envconfig:"RECONCILER_RETRY_INITIAL" desc:"first retry backoff (default 500ms)"`
	RetryMax     time.Duration `envconfig:"RECONCILER_RETRY_MAX" desc:"longest retry backoff (default 30s)"`
	// RetryElapsed is how long a batch is retried in place before its
	// events are handed back for redelivery (default 2m).
	RetryElapsed time.Duration `envconfig:"RECONCILER_RETRY_ELAPSED" desc:"in-place retry budget of a batch (default 2m)"`
	// Object and KeyField name the exception object and its external ID
	// (defaults Contact_Sync_Exception__c, Exception_Key__c).
	Object   string `envconfig:"RECONCILER_OBJECT" desc:"exception sObject (default Contact_Sync_Exception__c)"`
	KeyField string `envconfig:"RECONCILER_KEY_FIELD" desc:"its external ID field (default Exception_Key__c)"`
	// PayloadLimit caps Payload__c in characters (default 32000; the field
	// is a Long Text Area of 32,768).
	PayloadLimit int `envconfig:"RECONCILER_PAYLOAD_LIMIT" desc:"Payload__c cap in characters (default 32000)"`
	// ApplyInterval is how often resolved exception records are read and
	// applied back, one SOQL query per interval (default 30s; negative:
	// off). It runs when the Salesforce client can also query and update.
	ApplyInterval time.Duration `envconfig:"RECONCILER_APPLY_INTERVAL" desc:"poll for resolved exceptions to apply (default 30s, negative: off)"`
	// OnBatch, when set, is called after each batch is settled, from the
	// Reconciler's goroutine (for the standalone run's summary). Keep it fast.
	// The tally counts the batch's events by outcome: the newest event of
	// each exception key Created or Updated (one record per key), older
	// ones of the same key StaleSkipped, DeadLettered, Retried.
	OnBatch func(worker.Tally) `ignored:"true"`
}

// MaxBatch is the sObject Collections limit.
const MaxBatch = 200

func (c Config) withDefaults() Config {
	if c.Durable == "" {
		c.Durable = "reconciler"
	}
	if c.BatchSize == 0 {
		c.BatchSize = MaxBatch
	}
	if c.Linger == 0 {
		c.Linger = 50 * time.Millisecond
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 10
	}
	if c.AckWait == 0 {
		c.AckWait = 60 * time.Second
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 60 * time.Second
	}
	if c.RetryInitial == 0 {
		c.RetryInitial = 500 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 30 * time.Second
	}
	if c.RetryElapsed == 0 {
		c.RetryElapsed = 2 * time.Minute
	}
	if c.Object == "" {
		c.Object = "Contact_Sync_Exception__c"
	}
	if c.KeyField == "" {
		c.KeyField = "Exception_Key__c"
	}
	if c.ApplyInterval == 0 {
		c.ApplyInterval = 30 * time.Second
	}
	if c.PayloadLimit == 0 {
		c.PayloadLimit = 32000
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.BatchSize < 0 || c.BatchSize > MaxBatch:
		return fmt.Errorf("reconcile: BatchSize %d: want 1..%d", c.BatchSize, MaxBatch)
	case c.MaxDeliver < 0:
		return fmt.Errorf("reconcile: MaxDeliver %d: want >= 1", c.MaxDeliver)
	case c.AckWait < 0 || (c.AckWait > 0 && c.AckWait < time.Second):
		return fmt.Errorf("reconcile: AckWait %s: want >= 1s", c.AckWait)
	case c.CallTimeout < 0:
		return fmt.Errorf("reconcile: CallTimeout %s: want > 0", c.CallTimeout)
	case c.RetryInitial < 0 || c.RetryMax < 0 || c.RetryElapsed < 0:
		return fmt.Errorf("reconcile: RetryInitial/RetryMax/RetryElapsed must not be negative")
	case c.PayloadLimit < 0:
		return fmt.Errorf("reconcile: PayloadLimit %d: want > 0", c.PayloadLimit)
	}
	return nil
}

func (c Config) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       c.Durable,
		Description:   "writes conflict events as Contact_Sync_Exception__c records",
		FilterSubject: "contacts.conflict.*",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		MaxDeliver:    c.MaxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 4 * MaxBatch,
	}
}
