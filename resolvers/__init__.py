"""The domain: plain async functions taking a Context and typed inputs. No HTTP, no GraphQL."""
