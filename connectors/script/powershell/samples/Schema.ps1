# Granfeldt PSMA-style schema script: one PSObject per object class, properties named
# '<attribute>|<type>', 'Anchor-' for the anchor, '[]' for multi-valued.
param($Username, $Password, $Credentials, $ConfigurationParameter)

$o = New-Object -TypeName PSCustomObject
$o | Add-Member -MemberType NoteProperty -Name 'objectClass|String' -Value 'user'
$o | Add-Member -MemberType NoteProperty -Name 'Anchor-id|String' -Value ''
$o | Add-Member -MemberType NoteProperty -Name 'userName|String' -Value ''
$o | Add-Member -MemberType NoteProperty -Name 'displayName|String' -Value ''
$o | Add-Member -MemberType NoteProperty -Name 'mail|String[]' -Value @()
$o | Add-Member -MemberType NoteProperty -Name 'manager|Reference' -Value ''
$o
