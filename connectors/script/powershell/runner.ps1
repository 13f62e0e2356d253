<#
.SYNOPSIS
    Runs Granfeldt PSMA-style scripts (Schema.ps1, Import.ps1, Export.ps1, Password.ps1) as a
    connector-host script connector: a client of protocol version 1 (../PROTOCOL.md).

.DESCRIPTION
    Started once per worker by the host (pwsh -NoLogo -NoProfile -NonInteractive -File
    runner.ps1) and kept warm: the admin's scripts are read once, at hello, into script blocks
    of this runspace, and each request calls one of them with the variables PSMA gives:
    $Username, $Password, $Credentials, $AuxUsername, $AuxPassword, $AuxCredentials,
    $ImpersonationDomain, $ImpersonationUsername, $ImpersonationPassword,
    $ConfigurationParameter, and per script $OperationType, $UsePagedImport, $PageSize,
    $ImportPageNumber, $Schema (import), $ExportType, $ExportPageNumber (export), $Action,
    $NewPassword, $OldPassword, $UnlockAccount, $ForceChangeAtLogOn, $ValidatePassword
    (password); globals $RunStepCustomData, $PageToken and $MoreToImport. A script receives
    only the parameters its param() block declares.

    Configuration parameters ([connector.script.parameters]):
      SchemaScript, ImportScript, ExportScript   required, paths relative to the working directory
      PasswordScript                             optional; then passwords go through setPassword
      ReadScript                                 optional; read by anchor (else a full import is searched)
      TestScript                                 optional; its output describes the target
      Username, AuxUsername, ImpersonationDomain, ImpersonationUsername
      DeltaImport (default true), ConcurrencySafe (default false),
      AnchorAssignedByTarget (default false), PasswordAttribute (default "password")
    Every parameter is also in $ConfigurationParameter (a Dictionary[string,string]), as PSMA
    builds it from its configuration lines.
    Secrets ([connector.script.secrets]): Password, AuxPassword, ImpersonationPassword.

    Differences from MIM's PSMA are listed in ../README.md ("PowerShell").
#>
Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$script:Blocks = @{}
$script:Parameters = @{}
$script:SchemaCache = $null
$script:Options = @{}
$script:JsonDateKind = (Get-Command ConvertFrom-Json).Parameters.ContainsKey('DateKind')

function Write-Log([string]$Level, [string]$Text) {
    # Standard error only: standard output carries answers and nothing else.
    [Console]::Error.WriteLine("${Level}: $Text")
    [Console]::Error.Flush()
}

function Send-Answer($Message) {
    $json = ConvertTo-Json -InputObject $Message -Compress -Depth 32
    [Console]::Out.WriteLine($json)
    [Console]::Out.Flush()
}

function Read-Request([string]$Line) {
    if ($script:JsonDateKind) {
        return ConvertFrom-Json -InputObject $Line -AsHashtable -DateKind String
    }
    return ConvertFrom-Json -InputObject $Line -AsHashtable
}

function New-Failure([string]$Kind, [string]$Name, [string]$Detail) {
    $e = [System.Exception]::new($Detail)
    $e.Data['kind'] = $Kind
    $e.Data['name'] = $Name
    return $e
}

function Get-Flag([string]$Name, [bool]$Default) {
    if ($script:Parameters.ContainsKey($Name)) { return $script:Parameters[$Name] -match '^(true|1|yes)$' }
    return $Default
}

function Import-AdminScript([string]$Key, [bool]$Required) {
    $path = $script:Parameters[$Key]
    if (-not $path) {
        if ($Required) { throw (New-Failure 'misconfigured' 'missing-script' "parameter $Key is not set") }
        return
    }
    if (-not (Test-Path -LiteralPath $path -PathType Leaf)) {
        throw (New-Failure 'misconfigured' 'missing-script' "$Key $path does not exist")
    }
    # Read once: every later call runs the same script block, warm.
    $script:Blocks[$Key] = [ScriptBlock]::Create((Get-Content -LiteralPath $path -Raw))
}

function Invoke-AdminScript([string]$Key, [hashtable]$Extra, $Pipeline = $null) {
    $block = $script:Blocks[$Key]
    $all = @{} + $script:DefaultParameters + $Extra
    # Pass only what the script's param() block declares, so a script written for PSMA with
    # [CmdletBinding()] does not fail on a parameter it does not know.
    $declared = @()
    if ($block.Ast.ParamBlock) {
        $declared = @($block.Ast.ParamBlock.Parameters | ForEach-Object { $_.Name.VariablePath.UserPath })
    }
    $bound = @{}
    foreach ($name in $declared) { if ($all.ContainsKey($name)) { $bound[$name] = $all[$name] } }
    # Every stream into one, so Write-Host / Write-Warning never reach standard output.
    if ($null -ne $Pipeline) {
        $records = @($Pipeline | & $block @bound *>&1)
    } else {
        $records = @(& $block @bound *>&1)
    }
    $output = [System.Collections.Generic.List[object]]::new()
    foreach ($r in $records) {
        switch ($r) {
            { $_ -is [System.Management.Automation.ErrorRecord] } { Write-Log 'error' $_.ToString(); continue }
            { $_ -is [System.Management.Automation.WarningRecord] } { Write-Log 'warn' $_.Message; continue }
            { $_ -is [System.Management.Automation.VerboseRecord] } { Write-Log 'debug' $_.Message; continue }
            { $_ -is [System.Management.Automation.DebugRecord] } { Write-Log 'debug' $_.Message; continue }
            { $_ -is [System.Management.Automation.InformationRecord] } { Write-Log 'info' "$($_.MessageData)"; continue }
            default { $output.Add($_) }
        }
    }
    return , $output
}

function Initialize-Runner($Config) {
    $script:Parameters = @{}
    foreach ($k in $Config.parameters.Keys) { $script:Parameters[$k] = [string]$Config.parameters[$k] }
    $secrets = $Config.secrets
    $dict = [System.Collections.Generic.Dictionary[string, string]]::new()
    foreach ($k in $script:Parameters.Keys) { $dict[$k] = $script:Parameters[$k] }
    $credential = {
        param($user, $secret)
        if ($user -and $secret) {
            [pscredential]::new($user, (ConvertTo-SecureString -String $secret -AsPlainText -Force))
        }
    }
    $p = $secrets['Password']; $ap = $secrets['AuxPassword']
    $script:DefaultParameters = @{
        Username               = $script:Parameters['Username']
        Password               = $p
        Credentials            = & $credential $script:Parameters['Username'] $p
        AuxUsername            = $script:Parameters['AuxUsername']
        AuxPassword            = $ap
        AuxCredentials         = & $credential $script:Parameters['AuxUsername'] $ap
        ImpersonationDomain    = $script:Parameters['ImpersonationDomain']
        ImpersonationUsername  = $script:Parameters['ImpersonationUsername']
        ImpersonationPassword  = $secrets['ImpersonationPassword']
        ConfigurationParameter = $dict
    }
    Import-AdminScript 'SchemaScript' $true
    Import-AdminScript 'ImportScript' $true
    Import-AdminScript 'ExportScript' $true
    Import-AdminScript 'PasswordScript' $false
    Import-AdminScript 'ReadScript' $false
    Import-AdminScript 'TestScript' $false
    $script:Options = @{
        PasswordAttribute = if ($script:Parameters['PasswordAttribute']) { $script:Parameters['PasswordAttribute'] } else { 'password' }
    }
    return @{
        protocol     = 1
        capabilities = @{
            deltaImport            = Get-Flag 'DeltaImport' $true
            concurrencySafe        = Get-Flag 'ConcurrencySafe' $false
            anchorAssignedByTarget = Get-Flag 'AnchorAssignedByTarget' $false
            exportStyle            = 'objectReplace'
            passwords              = if ($script:Blocks.ContainsKey('PasswordScript')) { 'separate' } else { 'inline' }
        }
    }
}

# --------------------------------------------------------------------- schema --

# PSMA's schema: one PSObject per class; property names `name|type`, `Anchor-` and
# `ImportOnly-`/`ExportOnly-` prefixes, a `[]` suffix for multi-valued, the value of
# `objectClass|String` naming the class.
function Get-ConnectorSchema {
    if ($script:SchemaCache) { return $script:SchemaCache }
    $types = [System.Collections.Generic.List[object]]::new()
    foreach ($o in (Invoke-AdminScript 'SchemaScript' @{})) {
        $class = $null; $anchor = $null
        $attributes = [System.Collections.Generic.List[object]]::new()
        foreach ($prop in $o.PSObject.Properties) {
            $name, $type = $prop.Name -split '\|', 2
            if (-not $type) { $type = 'String' }
            if ($name -eq 'objectClass') { $class = [string]$prop.Value; continue }
            $direction = 'importExport'
            if ($name -like 'Anchor-*') { $name = $name.Substring(7); $anchor = $name }
            if ($name -like 'ImportOnly-*') { $name = $name.Substring(11); $direction = 'import' }
            elseif ($name -like 'ExportOnly-*') { $name = $name.Substring(11); $direction = 'export' }
            $multi = $type.EndsWith('[]')
            $base = $type.TrimEnd('[', ']').ToLowerInvariant()
            if ($base -notin @('boolean', 'binary', 'integer', 'reference', 'string', 'datetime')) { $base = 'string' }
            $attributes.Add(@{ name = $name; type = $base; multiValued = $multi; direction = $direction; required = ($name -eq $anchor) })
        }
        if (-not $class) { throw (New-Failure 'misconfigured' 'missing-objectclass-value' 'a schema object has no objectClass|String property') }
        if (-not $anchor) { throw (New-Failure 'misconfigured' 'missing-anchor' "class $class has no Anchor- attribute") }
        if ($script:Blocks.ContainsKey('PasswordScript')) {
            $attributes.Add(@{ name = $script:Options.PasswordAttribute; type = 'secret' })
        }
        $types.Add(@{ name = $class; anchor = $anchor; attributes = @($attributes) })
    }
    $script:SchemaCache = @{ objectTypes = @($types) }
    return $script:SchemaCache
}

function Get-TypeSchema([string]$ObjectType) {
    $t = (Get-ConnectorSchema).objectTypes | Where-Object { $_.name -eq $ObjectType } | Select-Object -First 1
    if (-not $t) { throw (New-Failure 'misconfigured' 'unknown-object-type' "no object class $ObjectType") }
    return $t
}

# PSMA hands Import.ps1 a $Schema PSObject: one property per class, holding its attributes.
function Get-PsmaSchema {
    $s = [pscustomobject]@{}
    foreach ($t in (Get-ConnectorSchema).objectTypes) {
        $attrs = [pscustomobject]@{ Anchor = $t.anchor }
        foreach ($a in $t.attributes) { $attrs | Add-Member -NotePropertyName $a.name -NotePropertyValue $a.type }
        $s | Add-Member -NotePropertyName $t.name -NotePropertyValue $attrs
    }
    return $s
}

# --------------------------------------------------------------------- import --

function Get-Key($Hashtable, [string[]]$Names) {
    foreach ($n in $Names) { foreach ($k in $Hashtable.Keys) { if ($k -eq $n) { return $k } } }
    return $null
}

function ConvertTo-Value($v) {
    if ($v -is [datetime]) { return $v.ToUniversalTime().ToString('o') }
    if ($v -is [byte[]]) { return [Convert]::ToBase64String($v) }
    if ($v -is [guid]) { return $v.ToString() }
    return $v
}

# One PSMA import hashtable -> one protocol item, or $null (import errors are logged).
function ConvertFrom-ImportEntry([hashtable]$Entry, [string]$DefaultType) {
    $classKey = Get-Key $Entry @('objectClass', '[ObjectClass]')
    $class = if ($classKey) { [string]$Entry[$classKey] } else { $DefaultType }
    $t = Get-TypeSchema $class
    $anchorKey = Get-Key $Entry @($t.anchor)
    if (-not $anchorKey -or $null -eq $Entry[$anchorKey] -or "$($Entry[$anchorKey])" -eq '') {
        Write-Log 'warn' "an imported $class has no anchor value ($($t.anchor)); skipped (PSMA: missing-anchor-value)"
        return $null
    }
    $anchor = [string]$Entry[$anchorKey]
    $errKey = Get-Key $Entry @('[ErrorName]')
    if ($errKey -and $Entry[$errKey] -and $Entry[$errKey] -ne 'success') {
        $detailKey = Get-Key $Entry @('[ErrorDetail]')
        $detail = if ($detailKey) { $Entry[$detailKey] } else { '' }
        Write-Log 'warn' "import error for $class ${anchor}: [$($Entry[$errKey])] $detail; the entry is skipped"
        return $null
    }
    $changeKey = Get-Key $Entry @('[ObjectModificationType]', 'changeType', '[ChangeType]')
    if ($changeKey -and "$($Entry[$changeKey])" -eq 'delete') {
        return @{ change = 'delete'; objectType = $class; anchor = $anchor }
    }
    $attributes = @{}
    foreach ($k in $Entry.Keys) {
        if ($k -like '`[*`]' -or $k -in @('objectClass', 'changeType')) { continue }
        $v = $Entry[$k]
        if ($null -eq $v) { continue }
        if ($v -is [System.Collections.IEnumerable] -and $v -isnot [string] -and $v -isnot [byte[]]) {
            $attributes[$k] = @($v | ForEach-Object { ConvertTo-Value $_ })
        } else {
            $attributes[$k] = @(ConvertTo-Value $v)
        }
    }
    $dnKey = Get-Key $Entry @('[DN]')
    $item = @{ objectType = $class; anchor = $anchor; attributes = $attributes }
    if ($dnKey) { $item.dn = [string]$Entry[$dnKey] }
    return $item
}

# One page: the page token carries all PSMA state (page number, $PageToken,
# $RunStepCustomData), so any worker can serve the next page.
function Invoke-ImportPage($Req) {
    $state = if ($Req.pageToken) { ConvertFrom-Json -InputObject $Req.pageToken -AsHashtable } else { $null }
    $operation = if ($Req.mode -eq 'delta') { 'Delta' } else { 'Full' }
    if ($state) {
        $page = [int]$state.n; $global:PageToken = $state.t; $global:RunStepCustomData = $state.w
    } else {
        # PSMA resets CustomData for a full import; a delta starts from the stored watermark.
        $page = 1; $global:PageToken = $null
        $global:RunStepCustomData = if ($operation -eq 'Delta') { [string]$Req.watermark } else { '' }
    }
    $global:MoreToImport = $false
    $out = Invoke-AdminScript 'ImportScript' @{
        OperationType = $operation; UsePagedImport = $true; PageSize = [int]$Req.pageSize
        ImportPageNumber = $page; Schema = (Get-PsmaSchema)
    }
    $items = [System.Collections.Generic.List[object]]::new()
    foreach ($o in $out) {
        # PSMA processes hashtables only; anything else is skipped.
        if ($o -isnot [hashtable]) { continue }
        $item = ConvertFrom-ImportEntry $o $Req.objectType
        if ($item) { $items.Add($item) }
    }
    $more = $global:MoreToImport -eq $true
    $result = @{ items = @($items); more = $more }
    if ($global:RunStepCustomData) { $result.watermark = [string]$global:RunStepCustomData }
    if ($more) {
        $result.pageToken = ConvertTo-Json -Compress -InputObject @{ n = $page + 1; t = $global:PageToken; w = $global:RunStepCustomData }
    }
    return $result
}

# ---------------------------------------------------------------------- export --

function Invoke-Export($Req) {
    $c = $Req.change
    $t = Get-TypeSchema $c.objectType
    $identifier = [guid]::NewGuid()
    $o = [pscustomobject]@{
        '[Identifier]'             = $identifier.ToString()
        '[IdentifierAsGuid]'       = $identifier
        '[Anchor]'                 = if ($c.anchor) { [string]$c.anchor } else { '' }
        '[ObjectModificationType]' = switch ($c.kind) { 'add' { 'Add' } 'delete' { 'Delete' } default { 'Replace' } }
        '[ObjectType]'             = $c.objectType
        '[DN]'                     = if ($c.ContainsKey('dn') -and $c.dn) { $c.dn } else { [string]$c.anchor }
        '[RDN]'                    = [string]$c.anchor
        '[AttributeNames]'         = @($t.attributes | ForEach-Object { $_.name })
        '[ChangedAttributeNames]'  = @()
    }
    if ($c.ContainsKey('attributes')) {
        $o.'[ChangedAttributeNames]' = @($c.attributes.Keys)
        foreach ($k in $c.attributes.Keys) {
            $values = @($c.attributes[$k])
            $a = $t.attributes | Where-Object { $_.name -eq $k } | Select-Object -First 1
            $value = if ($a -and $a.multiValued) { $values } elseif ($values.Count -gt 0) { $values[0] } else { $null }
            $o | Add-Member -NotePropertyName $k -NotePropertyValue $value
        }
    }
    $out = Invoke-AdminScript 'ExportScript' @{ ExportType = 'Delta'; Schema = (Get-PsmaSchema); ExportPageNumber = 1 } $o
    $mine = @($out | Where-Object { $_ -is [hashtable] -and "$($_['[Identifier]'])" -eq $identifier.ToString() })
    # No result for the object means success, as in PSMA.
    if ($mine.Count -eq 0) { return @{ anchor = $c.anchor } }
    $r = $mine[0]
    # As in PSMA: a result without [ErrorName] is 'unspecified-error'.
    $name = if ($r.ContainsKey('[ErrorName]')) { [string]$r['[ErrorName]'] } else { 'unspecified-error' }
    $detail = if ($r.ContainsKey('[ErrorDetail]')) { [string]$r['[ErrorDetail]'] } else { '' }
    if ($name -eq 'pending') { return @{ status = 'pending'; detail = $detail; anchor = $c.anchor } }
    if ($name -and $name -ne 'success') { throw (New-Failure $null $name $detail) }
    $result = @{ anchor = $c.anchor; attributes = @{} }
    foreach ($k in $r.Keys) {
        if ($k -like '`[*`]') { continue }
        if ($k -eq $t.anchor -and $r[$k]) { $result.anchor = [string]$r[$k] }
        $result.attributes[$k] = @($r[$k] | ForEach-Object { ConvertTo-Value $_ })
    }
    return $result
}

function Invoke-SetPassword($Req) {
    $o = [pscustomobject]@{
        '[DN]' = if ($Req.dn) { $Req.dn } else { $Req.anchor }; '[RDN]' = $Req.anchor
        DN = if ($Req.dn) { $Req.dn } else { $Req.anchor }; '[ObjectType]' = $Req.objectType
        '[Anchor]' = $Req.anchor
    }
    $null = Invoke-AdminScript 'PasswordScript' @{
        Action = 'Set'; NewPassword = $Req.password; OldPassword = $null
        UnlockAccount = $false; ForceChangeAtLogOn = $false; ValidatePassword = $false
    } $o
    return $null
}

function Invoke-Read($Req) {
    if ($script:Blocks.ContainsKey('ReadScript')) {
        $out = Invoke-AdminScript 'ReadScript' @{ ObjectType = $Req.objectType; Anchor = $Req.anchor; Schema = (Get-PsmaSchema) }
        $h = @($out | Where-Object { $_ -is [hashtable] }) | Select-Object -First 1
        if (-not $h) { return @{ object = $null } }
        return @{ object = (ConvertFrom-ImportEntry $h $Req.objectType) }
    }
    # PSMA has no read by anchor: search a full import, page by page.
    $token = $null
    do {
        $page = Invoke-ImportPage @{ mode = 'full'; objectType = $Req.objectType; pageSize = 500; pageToken = $token }
        foreach ($i in $page.items) { if ($i.anchor -eq [string]$Req.anchor) { return @{ object = $i } } }
        $token = $page['pageToken']
    } while ($page.more)
    return @{ object = $null }
}

function Invoke-Test {
    if ($script:Blocks.ContainsKey('TestScript')) {
        return @{ description = ((Invoke-AdminScript 'TestScript' @{}) -join ' ') }
    }
    $n = @((Get-ConnectorSchema).objectTypes).Count
    return @{ description = "PowerShell $($PSVersionTable.PSVersion) running PSMA scripts ($n object classes)" }
}

# ------------------------------------------------------------------------ loop --

while ($null -ne ($line = [Console]::In.ReadLine())) {
    if (-not $line.Trim()) { continue }
    $req = $null
    try {
        $req = Read-Request $line
        $result = switch ($req.op) {
            'hello' { Initialize-Runner $req.config }
            'schema' { $script:SchemaCache = $null; Get-ConnectorSchema }
            'test' { Invoke-Test }
            'importPage' { Invoke-ImportPage $req }
            'export' { Invoke-Export $req }
            'setPassword' { Invoke-SetPassword $req }
            'read' { Invoke-Read $req }
            default { throw (New-Failure 'misconfigured' 'unknown-operation' "operation $($req.op) is not supported") }
        }
        Send-Answer @{ id = $req.id; result = $result }
    } catch {
        $ex = $_.Exception
        $name = if ($ex.Data.Contains('name')) { $ex.Data['name'] } else { $ex.GetType().Name }
        $err = @{ name = $name; detail = $ex.Message }
        if ($ex.Data.Contains('kind') -and $ex.Data['kind']) { $err.kind = $ex.Data['kind'] }
        $id = if ($req -and $req.ContainsKey('id')) { $req.id } else { 0 }
        Send-Answer @{ id = $id; error = $err }
    }
}
