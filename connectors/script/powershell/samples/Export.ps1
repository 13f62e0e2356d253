# Granfeldt PSMA-style export script over a JSON file ($ConfigurationParameter['Store']).
# Objects arrive on the pipeline with [Identifier], [Anchor], [ObjectModificationType]
# (Add | Replace | Delete) and one property per attribute with a value; every object gets a
# result hashtable with [Identifier] and [ErrorName] ('success' or an error name).
param($Username, $Password, $Credentials, $ConfigurationParameter, $ExportType, $Schema)

begin {
    $path = $ConfigurationParameter['Store']
    $store = if (Test-Path -LiteralPath $path) { Get-Content -LiteralPath $path -Raw | ConvertFrom-Json -AsHashtable } else { @{ seq = 0; objects = @{}; changes = @{}; passwords = @{} } }
}
process {
    $id = $_.'[Identifier]'
    $anchor = $_.'[Anchor]'
    $type = $_.'[ObjectModificationType]'
    $exists = $store.objects.ContainsKey($anchor)
    if ($type -eq 'Add' -and $exists) {
        @{ '[Identifier]' = $id; '[ErrorName]' = 'object-already-exists'; '[ErrorDetail]' = "user $anchor exists" }
        return
    }
    if ($type -ne 'Add' -and -not $exists) {
        @{ '[Identifier]' = $id; '[ErrorName]' = 'no-such-object'; '[ErrorDetail]' = "user $anchor does not exist" }
        return
    }
    if ($type -eq 'Delete') {
        $store.objects.Remove($anchor)
    } else {
        $u = @{}
        foreach ($name in $_.'[ChangedAttributeNames]') { $u[$name] = $_.$name }
        $store.objects[$anchor] = $u
    }
    $store.seq = [int]$store.seq + 1
    $store.changes[$anchor] = $store.seq
    @{ '[Identifier]' = $id; '[ErrorName]' = 'success' }
}
end {
    $store | ConvertTo-Json -Depth 10 | Set-Content -LiteralPath $path -Encoding utf8
}
