package govops

import rego.v1

# Long answers from a model are worth a look: flag them.
violations contains "token_waste" if {
	input.operation == "chat"
	input.usage.output > 50000
}

# No single call may cost more than a dollar in production.
decision := "deny" if {
	input.environment == "prod"
	input.cost_usd > 1
}
