namespace Ingestion.Platform.Datasets;

/// <summary>What a dataset may be. Every violation is reported at once, keyed by the field it concerns.</summary>
public static class DatasetRules
{
    public const int MaxColumns = 400;

    public sealed record ColumnRequest(string? Name, string? Type, bool? Required, string? Source = null, string? Format = null);

    public sealed record DatasetRequest(
        string? Name,
        IReadOnlyList<ColumnRequest>? Columns,
        IReadOnlyList<string>? Key,
        string? OnKeyConflict,
        bool? IgnoreUnknownColumns,
        long? MaxRejectedRows,
        double? MaxRejectedRatio,
        IReadOnlyList<IReadOnlyList<string>>? Indexes = null,
        CsvDialectRules.DialectRequest? Dialect = null,
        string? Format = null);

    public static (DatasetDefinition? Dataset, Dictionary<string, string[]> Errors) Validate(DatasetRequest request)
    {
        var errors = new Dictionary<string, List<string>>();
        void Error(string field, string message)
        {
            if (!errors.TryGetValue(field, out var list))
            {
                errors[field] = list = [];
            }

            list.Add(message);
        }

        if (!Identifier.IsValid(request.Name))
        {
            Error("name", $"must match {Identifier.Pattern} and be at most {Identifier.MaxLength} characters.");
        }

        var columns = new List<DatasetColumn>();
        var requested = request.Columns ?? [];
        if (requested.Count == 0)
        {
            Error("columns", "must list at least one column.");
        }
        else if (requested.Count > MaxColumns)
        {
            Error("columns", $"may list at most {MaxColumns} columns.");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var sources = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < requested.Count; i++)
        {
            var column = requested[i];
            var valid = true;
            if (!Identifier.IsValid(column.Name))
            {
                Error($"columns[{i}].name", $"must match {Identifier.Pattern} and be at most {Identifier.MaxLength} characters.");
                valid = false;
            }
            else if (!names.Add(column.Name!))
            {
                Error($"columns[{i}].name", $"'{column.Name}' appears more than once.");
                valid = false;
            }

            if (!ColumnType.TryParse(column.Type, out var type, out var typeError))
            {
                Error($"columns[{i}].type", typeError);
                valid = false;
            }

            var source = column.Source?.Trim();
            if (source is not null && (source.Length is 0 or > 200 || source.Any(char.IsControl)))
            {
                Error($"columns[{i}].source", "must be a header name of 1 to 200 characters, without control characters.");
                valid = false;
            }
            else if (source is not null && !sources.Add(source))
            {
                Error($"columns[{i}].source", $"'{source}' feeds another column too.");
                valid = false;
            }

            if (valid && column.Format is { } format && CsvDialectRules.CheckFormat(type, format) is { } formatError)
            {
                Error($"columns[{i}].format", formatError);
                valid = false;
            }

            if (valid)
            {
                columns.Add(new DatasetColumn(column.Name!, type, column.Required ?? false, source, column.Format));
            }
        }

        var key = request.Key ?? [];
        if (key.Distinct(StringComparer.Ordinal).Count() != key.Count)
        {
            Error("key", "names a column more than once.");
        }

        foreach (var part in key)
        {
            if (!names.Contains(part))
            {
                Error("key", $"'{part}' is not one of the columns.");
            }
        }

        KeyConflictPolicy policy = KeyConflictPolicy.Reject;
        if (request.OnKeyConflict is not null && !Enum.TryParse(request.OnKeyConflict, ignoreCase: true, out policy))
        {
            Error("onKeyConflict", "must be 'reject' or 'upsert'.");
        }

        if (policy == KeyConflictPolicy.Upsert && key.Count == 0)
        {
            Error("onKeyConflict", "'upsert' needs a key.");
        }

        if (request.MaxRejectedRows is < 0)
        {
            Error("maxRejectedRows", "must be zero or more.");
        }

        if (request.MaxRejectedRatio is < 0 or > 1 || request.MaxRejectedRatio is double.NaN)
        {
            Error("maxRejectedRatio", "must be between 0 and 1.");
        }

        var indexes = request.Indexes ?? [];
        if (indexes.Count > DatasetIndex.MaxIndexes)
        {
            Error("indexes", $"may list at most {DatasetIndex.MaxIndexes} indexes.");
        }

        for (var i = 0; i < indexes.Count; i++)
        {
            if (DatasetIndex.Check(indexes[i], names.Contains) is { } indexError)
            {
                Error($"indexes[{i}]", indexError);
            }
            else if (indexes.Take(i).Any(other => other?.SequenceEqual(indexes[i]) == true) || indexes[i].SequenceEqual(key))
            {
                Error($"indexes[{i}]", "repeats another index or the key.");
            }
        }

        // A header name may feed one column only: a column's own name counts when it has no source.
        foreach (var column in columns.Where(c => c.Source is null && sources.Contains(c.Name)))
        {
            Error("columns", $"'{column.Name}' is both a column's name and another column's source.");
        }

        var keySet = key.ToHashSet(StringComparer.Ordinal);
        var finalColumns = columns.Select(c => keySet.Contains(c.Name) ? c with { Required = true } : c).ToList();
        var dialect = CsvDialectRules.Apply(request.Dialect, CsvDialect.Default, finalColumns, "dialect.", Error);
        var fileFormat = UploadFormat.Csv;
        var fileFormatError = "";
        if (request.Format is not null && UploadFormat.Parse(request.Format, out fileFormatError) is { } parsed)
        {
            // A JSON Lines dataset's sources are JSON paths: each one that is not is named by the column that declares it.
            fileFormat = parsed;
            UploadFormat.Fits(fileFormat, finalColumns, (i, problem) =>
                Error($"columns[{requested.ToList().FindIndex(c => c.Name == finalColumns[i].Name)}].source", problem));
        }
        else if (request.Format is not null)
        {
            Error("format", fileFormatError);
        }

        if (errors.Count > 0)
        {
            return (null, errors.ToDictionary(e => e.Key, e => e.Value.ToArray()));
        }

        // Key columns cannot be null: they are always required (finalColumns says so).
        return (new DatasetDefinition(request.Name!, finalColumns, key.ToList(), policy,
            request.IgnoreUnknownColumns ?? false, request.MaxRejectedRows, request.MaxRejectedRatio,
            indexes.Count == 0 ? null : indexes.Select(index => (IReadOnlyList<string>)index.ToList()).ToList(),
            request.Dialect is null || dialect == CsvDialect.Default ? null : dialect,
            fileFormat == UploadFormat.Csv ? null : fileFormat), []);
    }
}
