package formula_test

import (
	"fmt"

	"github.com/contactsync/contactsync/pkg/sfsim/formula"
)

func Example() {
	rule, err := formula.Compile(`AND(NOT(ISNEW()), Sync_Version__c < PRIORVALUE(Sync_Version__c))`,
		formula.FieldTypes{"Sync_Version__c": formula.Number})
	if err != nil {
		fmt.Println(err)
		return
	}
	older := record{old: m{"Sync_Version__c": 20.0}, cur: m{"Sync_Version__c": 10.0}}
	newer := record{old: m{"Sync_Version__c": 20.0}, cur: m{"Sync_Version__c": 30.0}}
	fires, _ := rule.Eval(older)
	fmt.Println("older version refused:", fires)
	fires, _ = rule.Eval(newer)
	fmt.Println("newer version refused:", fires)

	_, err = formula.Compile(`Sync_Version__c = "10"`, formula.FieldTypes{"Sync_Version__c": formula.Number})
	fmt.Println(err)
	// Output:
	// older version refused: true
	// newer version refused: false
	// Incorrect parameter type for operator '='. Expected Number, received Text (at character 17)
}
