using Ingestion.Platform.Datasets;

namespace Ingestion.Workers.Csv;

/// <summary>A dataset column and the field of the file that feeds it.</summary>
internal sealed record MappedColumn(DatasetColumn Column, int Field);

/// <summary>
/// How a file's header lines up with a dataset: names matched case-insensitively, in
/// any order. The columns are in the order the COPY lists them; dataset columns the
/// file does not have are left to their default (NULL).
/// </summary>
internal sealed record HeaderMap(IReadOnlyList<string> Header, IReadOnlyList<MappedColumn> Columns)
{
    /// <summary>
    /// The map for a file read with <paramref name="dialect"/>: from its header line, or, for a file without one, from the
    /// fields the dialect declares (<paramref name="header"/> is then that list, as the checkpoint keeps it).
    /// </summary>
    public static (HeaderMap? Map, FileProblem? Problem) For(DatasetDefinition dataset, CsvDialect dialect, IReadOnlyList<string> header)
    {
        if (dialect.Header)
        {
            return Build(dataset, header);
        }

        var columns = header
            .Select((name, field) => (Column: name.Length == 0 ? null : dataset.Column(name), Field: field))
            .Where(f => f.Column is not null)
            .Select(f => new MappedColumn(f.Column!, f.Field))
            .OrderBy(c => dataset.Columns.ToList().IndexOf(c.Column))
            .ToList();
        var missing = dataset.Columns.Where(c => c.Required && columns.All(m => m.Column != c)).Select(c => c.Name).ToList();
        return missing.Count > 0
            ? (null, new FileProblem("missing_columns",
                $"The declared fields lack required column{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)} of dataset '{dataset.Name}'."))
            : (new HeaderMap(header, columns), null);
    }

    /// <summary>The map, or the file-level problem that makes the file unloadable.</summary>
    public static (HeaderMap? Map, FileProblem? Problem) Build(DatasetDefinition dataset, IReadOnlyList<string> header)
    {
        var names = header.Select(h => h.Trim()).ToList();
        if (names.Count == 0 || names.All(n => n.Length == 0))
        {
            return (null, new FileProblem("no_header", "The file has no header line: its first line is empty."));
        }

        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < names.Count; i++)
        {
            if (names[i].Length == 0)
            {
                return (null, new FileProblem("empty_header", $"Header column {i + 1} has no name."));
            }

            if (seen.TryGetValue(names[i], out var first))
            {
                return (null, new FileProblem("duplicate_header",
                    $"The header names '{names[i]}' twice (columns {first + 1} and {i + 1})."));
            }

            seen[names[i]] = i;
        }

        var missing = dataset.Columns.Where(c => c.Required && !seen.ContainsKey(c.HeaderName)).Select(c => c.HeaderName).ToList();
        var unknown = names.Where(n => dataset.ColumnForHeader(n) is null).ToList();
        if (missing.Count > 0)
        {
            var looksLikeData = unknown.Count == names.Count;
            return (null, new FileProblem("missing_columns", looksLikeData
                ? $"The first line does not look like a header: none of its names ({string.Join(", ", names.Take(5))}) is a column of dataset '{dataset.Name}', which needs {string.Join(", ", missing)}."
                : $"The header lacks required column{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)} of dataset '{dataset.Name}'."));
        }

        if (unknown.Count > 0 && !dataset.IgnoreUnknownColumns)
        {
            return (null, new FileProblem("unknown_columns",
                $"The header has column{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown)} that dataset '{dataset.Name}' does not have (register them, or set ignoreUnknownColumns)."));
        }

        var columns = dataset.Columns
            .Where(c => seen.ContainsKey(c.HeaderName))
            .Select(c => new MappedColumn(c, seen[c.HeaderName]))
            .ToList();
        return (new HeaderMap(names, columns), null);
    }
}

/// <summary>Why a whole file cannot be loaded. <paramref name="Code"/> is stable; <paramref name="Message"/> is for a person.</summary>
internal sealed record FileProblem(string Code, string Message);
