"""The only code that knows DynamoDB: key formats, items, conditions, transactions."""
