# Granfeldt PSMA-style password script: sets $NewPassword on the object piped in.
# Throws to refuse (the exception's type name becomes the error name).
param($Username, $Password, $Credentials, $ConfigurationParameter, $Action, $NewPassword,
      $OldPassword, [switch]$UnlockAccount, [switch]$ForceChangeAtLogOn, [switch]$ValidatePassword)

begin {
    $path = $ConfigurationParameter['Store']
    $store = Get-Content -LiteralPath $path -Raw | ConvertFrom-Json -AsHashtable
    if (-not $store.ContainsKey('passwords')) { $store.passwords = @{} }
}
process {
    $anchor = $_.'[Anchor]'
    if (-not $store.objects.ContainsKey($anchor)) { throw "user $anchor does not exist" }
    if ($NewPassword.Length -lt 8) { throw [System.ArgumentException]::new('a password needs 8 characters') }
    $store.passwords[$anchor] = $NewPassword
}
end {
    $store | ConvertTo-Json -Depth 10 | Set-Content -LiteralPath $path -Encoding utf8
}
