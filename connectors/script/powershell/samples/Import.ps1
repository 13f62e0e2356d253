# Granfeldt PSMA-style import script over a JSON file ($ConfigurationParameter['Store']).
# Emits one hashtable per object; pages with $PageSize / $ImportPageNumber and
# $global:MoreToImport; keeps a watermark in $global:RunStepCustomData (the store's change
# counter) and, on a delta, emits the objects changed since and deletes.
param($Username, $Password, $Credentials, $ConfigurationParameter, $OperationType,
      [bool]$UsePagedImport, $PageSize, $ImportPageNumber, $Schema)

$path = $ConfigurationParameter['Store']
$store = if (Test-Path -LiteralPath $path) { Get-Content -LiteralPath $path -Raw | ConvertFrom-Json -AsHashtable } else { @{ seq = 0; objects = @{}; changes = @{} } }
$since = if ($OperationType -eq 'Delta' -and $global:RunStepCustomData) { [int]$global:RunStepCustomData } else { 0 }
if ($ImportPageNumber -eq 1 -and $OperationType -ne 'Delta') {
    # Taken before reading, so a change made meanwhile is read again by the next delta.
    $global:RunStepCustomData = [string]$store.seq
}
$anchors = @($store.objects.Keys | Sort-Object)
if ($OperationType -eq 'Delta') {
    $anchors = @($store.changes.Keys | Where-Object { $store.changes[$_] -gt $since } | Sort-Object)
}
$from = ($ImportPageNumber - 1) * $PageSize
$page = @($anchors | Select-Object -Skip $from -First $PageSize)
foreach ($a in $page) {
    $u = $store.objects[$a]
    if ($null -eq $u) {
        @{ objectClass = 'user'; id = $a; changeType = 'delete' }
        continue
    }
    $h = @{ objectClass = 'user'; id = $a }
    foreach ($k in $u.Keys) { $h[$k] = $u[$k] }
    $h
}
$global:MoreToImport = ($from + $PageSize) -lt $anchors.Count
if (-not $global:MoreToImport -and $OperationType -eq 'Delta') {
    $global:RunStepCustomData = [string]$store.seq
}
