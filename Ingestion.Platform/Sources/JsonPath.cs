using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Ingestion.Platform.Sources;

/// <summary>
/// The JSON paths a source declares: <c>$</c> (the root), then property names and array indexes,
/// <c>$.meta.next_cursor</c>, <c>$.user.id</c>, <c>$.items[0].id</c>. Deliberately the small subset
/// every API needs (no wildcards, filters or recursion): a path selects at most one value, and
/// selecting costs one step per segment.
/// </summary>
public sealed partial class JsonPath
{
    private readonly object[] _steps;

    private JsonPath(string text, object[] steps)
    {
        Text = text;
        _steps = steps;
    }

    public string Text { get; }

    public static bool TryParse(string? text, out JsonPath path, out string problem)
    {
        path = Root;
        problem = "";
        if (string.IsNullOrEmpty(text) || text.Length > 500 || !Grammar().IsMatch(text))
        {
            problem = $"'{text}' is not a JSON path of the form $.name.name[0] (property names of letters, digits, '_' and '-').";
            return false;
        }

        var steps = Step().Matches(text)
            .Select(m => m.Groups["name"].Success ? (object)m.Groups["name"].Value : int.Parse(m.Groups["index"].Value, CultureInfo.InvariantCulture))
            .ToArray();
        path = new JsonPath(text, steps);
        return true;
    }

    public static JsonPath Parse(string text) =>
        TryParse(text, out var path, out var problem) ? path : throw new FormatException(problem);

    public static readonly JsonPath Root = new("$", []);

    /// <summary>The value the path names in <paramref name="root"/>; false when any step is missing (or null).</summary>
    public bool TrySelect(JsonElement root, out JsonElement value)
    {
        value = root;
        foreach (var step in _steps)
        {
            if (step is string name)
            {
                if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty(name, out value))
                {
                    return false;
                }
            }
            else if (value.ValueKind != JsonValueKind.Array || (int)step >= value.GetArrayLength())
            {
                return false;
            }
            else
            {
                value = value[(int)step];
            }
        }

        return value.ValueKind != JsonValueKind.Null;
    }

    public override string ToString() => Text;

    [GeneratedRegex(@"^\$(\.[A-Za-z0-9_-]+|\[\d{1,6}\])*$", RegexOptions.CultureInvariant)]
    private static partial Regex Grammar();

    [GeneratedRegex(@"\.(?<name>[A-Za-z0-9_-]+)|\[(?<index>\d+)\]", RegexOptions.CultureInvariant)]
    private static partial Regex Step();
}
