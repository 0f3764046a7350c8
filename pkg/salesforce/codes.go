package salesforce

// Salesforce error codes, as they arrive in a REST error's "errorCode" or a
// per-record result's "statusCode" (APIError.ErrorCode, RecordError.StatusCode).
// Compare against these instead of string literals; the classification table
// (Classify) is keyed by them.
const (
	// Session and limits.
	CodeInvalidSessionID     = "INVALID_SESSION_ID"
	CodeRequestLimitExceeded = "REQUEST_LIMIT_EXCEEDED"

	// Transient: worth retrying.
	CodeUnableToLockRow              = "UNABLE_TO_LOCK_ROW"
	CodeServerUnavailable            = "SERVER_UNAVAILABLE"
	CodeQueryTimeout                 = "QUERY_TIMEOUT"
	CodeAllOrNoneOperationRolledBack = "ALL_OR_NONE_OPERATION_ROLLED_BACK"
	CodeProcessingHalted             = "PROCESSING_HALTED"

	// Duplicate rules, unique fields and external ID matches.
	CodeDuplicatesDetected  = "DUPLICATES_DETECTED"
	CodeDuplicateValue      = "DUPLICATE_VALUE"
	CodeDuplicateExternalID = "DUPLICATE_EXTERNAL_ID"

	// Permanent: the same request cannot succeed.
	CodeInvalidField                   = "INVALID_FIELD"
	CodeRequiredFieldMissing           = "REQUIRED_FIELD_MISSING"
	CodeStringTooLong                  = "STRING_TOO_LONG"
	CodeInvalidEmailAddress            = "INVALID_EMAIL_ADDRESS"
	CodeFieldCustomValidationException = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
	CodeMalformedID                    = "MALFORMED_ID"
	CodeMalformedQuery                 = "MALFORMED_QUERY"
	CodeNotFound                       = "NOT_FOUND"
	CodeInvalidType                    = "INVALID_TYPE"
	CodeJSONParserError                = "JSON_PARSER_ERROR"
	CodeAPIDisabledForOrg              = "API_DISABLED_FOR_ORG"
	CodeMethodNotAllowed               = "METHOD_NOT_ALLOWED"
	CodeInvalidFieldForInsertUpdate    = "INVALID_FIELD_FOR_INSERT_UPDATE"
	CodeInvalidCrossReferenceKey       = "INVALID_CROSS_REFERENCE_KEY"
	CodeEntityIsDeleted                = "ENTITY_IS_DELETED"
	CodeQueryTooComplicated            = "QUERY_TOO_COMPLICATED"

	// CodeUnknownException is the code of a Bulk API 2.0 failed-results row
	// whose sf__Error column carries no "CODE:message" prefix.
	CodeUnknownException = "UNKNOWN_EXCEPTION"
	// CodeInvalidJobState: a Bulk API 2.0 job is not in a state that allows
	// the request (e.g. aborting a job that already finished).
	CodeInvalidJobState = "INVALIDJOBSTATE"
)

// CodeUnknownError is not sent by Salesforce: it is what this project records
// when a failed per-record result arrives without any error entry, so the
// failure still has a code to classify (permanent) and report.
const CodeUnknownError = "UNKNOWN_ERROR"
