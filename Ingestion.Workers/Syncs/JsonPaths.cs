using System.Text.Json;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// The simple JSON paths sources declare: dotted member names from the root, with array indexes,
/// <c>$.meta.next_cursor</c>, <c>$.data</c>, <c>links[0].href</c>. <c>$</c> alone is the root.
/// </summary>
public static class JsonPaths
{
    public static bool TryGet(JsonElement root, string path, out JsonElement value)
    {
        value = root;
        var rest = path.Trim();
        rest = rest.StartsWith('$') ? rest[1..] : rest;
        foreach (var segment in rest.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            var name = segment;
            var bracket = name.IndexOf('[');
            var index = -1;
            if (bracket >= 0)
            {
                if (!name.EndsWith(']') || !int.TryParse(name[(bracket + 1)..^1], out index))
                {
                    return false;
                }

                name = name[..bracket];
            }

            if (name.Length > 0)
            {
                if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty(name, out value))
                {
                    return false;
                }
            }

            if (index >= 0)
            {
                if (value.ValueKind != JsonValueKind.Array || index >= value.GetArrayLength())
                {
                    return false;
                }

                value = value[index];
            }
        }

        return true;
    }

    /// <summary>The value as text: a string's content, a number's or boolean's literal; null for null or a missing member.</summary>
    public static string? Text(JsonElement root, string path) =>
        TryGet(root, path, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
                _ => null,
            }
            : null;
}
