// List contacts
const contacts = await fetch('http://localhost:8080/api/v1/integrations/contacts?per_page=50', {
headers: { 'X-API-Key': '<API_KEY>' }
});
// Create contact
await fetch('http://localhost:8080/api/v1/integrations/contacts', {
method: 'POST',
headers: { 'X-API-Key': '<API_KEY>', 'Content-Type': 'application/json' },
body: JSON.stringify({
name: 'Maria Ionescu',
email: 'maria@example.com', phone: '+40740111222',
tags: ['vip', 'newsletter'],
metadata: { source: 'crm' }
})
});
// Backward compatibility: first_name + last_name are also accepted
// and combined into the stored name field.
