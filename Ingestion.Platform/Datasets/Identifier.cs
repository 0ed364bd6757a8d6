using System.Text.RegularExpressions;

namespace Ingestion.Platform.Datasets;

/// <summary>
/// Names that become SQL identifiers (tenants, datasets, columns). Only a strict pattern is
/// accepted, and every use is quoted as well, so no input can change the shape of a statement.
/// </summary>
public static partial class Identifier
{
    public const string Pattern = "^[a-z][a-z0-9_]*$";
    public const int MaxLength = 63;
    public const int MaxTenantLength = 40;

    public static bool IsValid(string? name, int maxLength = MaxLength) =>
        name is not null && name.Length <= maxLength && Valid().IsMatch(name);

    public static string Quote(string name)
    {
        if (!IsValid(name))
        {
            throw new ArgumentException($"'{name}' is not a valid identifier.", nameof(name));
        }

        return "\"" + name + "\"";
    }

    [GeneratedRegex(Pattern, RegexOptions.CultureInvariant)]
    private static partial Regex Valid();
}
