using System.Text.Json;

namespace Ingestion.Platform.Sources;

/// <summary>
/// The JSON paths a declaration names: <c>$</c> (the root), then property names and array indexes,
/// <c>$.meta.next_cursor</c>, <c>$.user.id</c>, <c>$.items[0].id</c>, <c>$.matrix[0][1]</c>.
/// Deliberately the small subset every API needs (no wildcards, filters or recursion): a path
/// selects at most one value, and selecting costs one step per segment. One parser decides what a
/// valid path is and what it selects: a path is parsed once, when it is declared or when the code
/// that follows it starts, then applied to every document.
/// </summary>
/// <remarks>Grammar: <c>path = "$" step*</c>; <c>step = "." name | "[" digits "]"</c>; <c>name</c> is letters, digits, '_' and '-'; at most 6 digits.</remarks>
public sealed class JsonPath
{
    private const int MaxLength = 500;
    private const int MaxIndexDigits = 6;

    private readonly object[] _steps;

    private JsonPath(string text, object[] steps)
    {
        Text = text;
        _steps = steps;
    }

    public static readonly JsonPath Root = new("$", []);

    public string Text { get; }

    /// <summary>The path's steps from the root: a property name (<see cref="string"/>) or an array index (<see cref="int"/>) each.</summary>
    public IReadOnlyList<object> Steps => _steps;

    public static bool TryParse(string? text, out JsonPath path, out string problem)
    {
        path = Root;
        problem = "";
        if (string.IsNullOrEmpty(text) || text.Length > MaxLength || text[0] != '$')
        {
            problem = Refusal(text);
            return false;
        }

        var steps = new List<object>();
        var at = 1;
        while (at < text.Length)
        {
            var start = at + 1;
            if (text[at] == '.')
            {
                var end = start;
                while (end < text.Length && IsNameChar(text[end]))
                {
                    end++;
                }

                if (end == start)
                {
                    problem = Refusal(text);
                    return false;
                }

                steps.Add(text[start..end]);
                at = end;
            }
            else if (text[at] == '[')
            {
                var end = start;
                while (end < text.Length && char.IsAsciiDigit(text[end]))
                {
                    end++;
                }

                if (end == start || end - start > MaxIndexDigits || end >= text.Length || text[end] != ']')
                {
                    problem = Refusal(text);
                    return false;
                }

                steps.Add(int.Parse(text.AsSpan(start, end - start), System.Globalization.CultureInfo.InvariantCulture));
                at = end + 1;
            }
            else
            {
                problem = Refusal(text);
                return false;
            }
        }

        path = steps.Count == 0 ? Root : new JsonPath(text, [.. steps]);
        return true;
    }

    public static JsonPath Parse(string text) =>
        TryParse(text, out var path, out var problem) ? path : throw new FormatException(problem);

    /// <summary>The value the path names in <paramref name="root"/>; false when any step is missing, or the value is null.</summary>
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

    /// <summary>The selected value as text: a string's content, a number's or boolean's literal; null for nothing, null, an object or an array.</summary>
    public string? SelectText(JsonElement root) =>
        TrySelect(root, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
                _ => null,
            }
            : null;

    public override string ToString() => Text;

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-';

    private static string Refusal(string? text) =>
        $"'{text}' is not a JSON path of the form $.name.name[0] (property names of letters, digits, '_' and '-'; indexes of up to {MaxIndexDigits} digits).";
}
