"""SQLModel tables. Importing this package registers every table on `SQLModel.metadata`."""

from gateway.tables.contacts import Contact, ContactTag
from gateway.tables.integrations import Integration, Template
from gateway.tables.tenancy import ApiKey, Membership, RefreshToken, Tenant, User

__all__ = [
    "ApiKey",
    "Contact",
    "ContactTag",
    "Integration",
    "Membership",
    "RefreshToken",
    "Template",
    "Tenant",
    "User",
]
