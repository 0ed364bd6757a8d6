using System.Text.RegularExpressions;
using Ingestion.Platform.Datasets;

namespace Ingestion.Platform.Sources;

/// <summary>
/// What a source may be, checked against the dataset it loads into. Every violation is reported at
/// once, keyed by the field it concerns (<c>pagination.cursorParameter</c>, <c>records.fields.amount</c>).
/// The base URL's form is checked here; where it leads is checked apart (<see cref="SourceGuard"/>), since that needs DNS.
/// </summary>
public static partial class SourceRules
{
    public const int MaxPolicies = 8;
    public const int MaxParameters = 50;
    public const int MaxSecretLength = 4096;
    public const int MaxPageSize = 100_000;
    public const int MaxParallelism = 32;

    /// <summary>
    /// Time slices (partitions) a sync plans at most: each is a checkpoint row and a task, so a start
    /// decades back with one-minute slices must not plan millions. The plan widens slices beyond this.
    /// </summary>
    public const int MaxSlices = 10_000;

    /// <summary>Headers the HTTP client owns, or that would carry a credential in clear inside the definition.</summary>
    private static readonly HashSet<string> ReservedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Authorization", "Proxy-Authorization", "Cookie", "Host", "Content-Length", "Transfer-Encoding", "Connection",
    };

    public sealed record SourceBody(
        string? Name,
        string? Dataset,
        RequestBody? Request,
        AuthBody? Auth,
        PaginationBody? Pagination,
        RecordsBody? Records,
        RateLimitBody? RateLimit,
        IncrementalBody? Incremental,
        PartitionsBody? Partitions,
        ScheduleBody? Schedule);

    public sealed record RequestBody(string? BaseUrl, string? Path, Dictionary<string, string>? Query, Dictionary<string, string>? Headers);

    /// <summary><see cref="Secret"/> is write-only: accepted here, sealed, never returned.</summary>
    public sealed record AuthBody(string? In, string? Name, string? Prefix, string? Secret)
    {
        // A record prints its members; this one must never print the secret (an exception message, a log line).
        public override string ToString() => $"AuthBody {{ In = {In}, Name = {Name}, Prefix = {Prefix}, Secret = {(Secret is null ? "null" : "***")} }}";
    }

    public sealed record PaginationBody(
        string? Style,
        string? CursorPath,
        string? CursorHeader,
        string? CursorParameter,
        string? NextLinkPath,
        string? HasMorePath,
        string? PageParameter,
        int? StartPage,
        string? OffsetParameter,
        string? LimitParameter,
        int? PageSize);

    public sealed record RecordsBody(string? Path, Dictionary<string, string>? Fields, string? TotalPath);

    public sealed record RateLimitBody(IReadOnlyList<PolicyBody>? Policies, bool? LearnFromHeaders, int? MarginMilliseconds = null);

    public sealed record PolicyBody(int? Requests, int? PerSeconds);

    public sealed record IncrementalBody(string? Column, string? SinceParameter, string? UntilParameter, string? Format, int? LookbackSeconds);

    public sealed record PartitionsBody(DateTimeOffset? Start, int? SliceSeconds, int? Parallelism);

    public sealed record ScheduleBody(int? EveryMinutes, string? Mode);

    /// <summary>A valid source and the secret sent with it (null: none sent).</summary>
    public sealed record ValidSource(SourceDefinition Source, string? Secret);

    /// <param name="body">The request.</param>
    /// <param name="dataset">The tenant's dataset that <see cref="SourceBody.Dataset"/> names, or null when it has none.</param>
    /// <param name="minimumScheduleMinutes">The shortest schedule allowed (<see cref="SourceOptions.MinimumScheduleMinutes"/>).</param>
    public static (ValidSource? Source, Dictionary<string, string[]> Errors) Validate(SourceBody body, DatasetDefinition? dataset,
        int minimumScheduleMinutes)
    {
        var errors = new Errors();

        if (!Identifier.IsValid(body.Name))
        {
            errors.Add("name", $"must match {Identifier.Pattern} and be at most {Identifier.MaxLength} characters.");
        }

        if (!Identifier.IsValid(body.Dataset))
        {
            errors.Add("dataset", "must name one of the tenant's datasets.");
        }
        else if (dataset is null)
        {
            errors.Add("dataset", $"this tenant has no dataset named '{body.Dataset}'; register it first (POST /v1/datasets).");
        }

        var request = ValidateRequest(body.Request, errors);
        var (auth, secret) = ValidateAuth(body.Auth, body.Request, errors);
        var pagination = ValidatePagination(body.Pagination, errors);
        var records = ValidateRecords(body.Records, dataset, errors);
        RefusePathsInsideRecords(body.Pagination, body.Records, errors);
        var rateLimit = ValidateRateLimit(body.RateLimit, errors);
        var incremental = ValidateIncremental(body.Incremental, dataset, records, errors);
        var partitions = ValidatePartitions(body.Partitions, body.Incremental, incremental, errors);
        var schedule = ValidateSchedule(body.Schedule, body.Incremental, dataset, minimumScheduleMinutes, errors);

        if (errors.Count > 0)
        {
            return (null, errors.ToDictionary());
        }

        var source = new SourceDefinition(body.Name!, body.Dataset!, request!, auth, pagination!, records!, rateLimit!,
            incremental, partitions, schedule);
        return (new ValidSource(source, secret), []);
    }

    private static SourceRequest? ValidateRequest(RequestBody? body, Errors errors)
    {
        if (body is null)
        {
            errors.Add("request", "is required: baseUrl and path.");
            return null;
        }

        var valid = true;
        if (string.IsNullOrWhiteSpace(body.BaseUrl))
        {
            errors.Add("request.baseUrl", "is required: the API's http(s) root, e.g. https://api.example.com.");
            valid = false;
        }
        else if (SourceGuard.SyntaxProblem(body.BaseUrl.Trim()) is { } problem)
        {
            errors.Add("request.baseUrl", problem);
            valid = false;
        }

        // The path is relative to the base URL: an absolute URL or '//host' here would leave the checked host.
        var path = body.Path ?? "";
        if (path.Length == 0 || path.Length > 2000 || path.StartsWith("//", StringComparison.Ordinal) || path.Contains('\\')
            || !Uri.TryCreate(path, UriKind.Relative, out _) || path.Contains('?') || path.Contains('#')
            || path.Split('/').Any(segment => segment is ".." or "."))
        {
            errors.Add("request.path", "must be a path relative to baseUrl, e.g. /v1/events, without '..', a query or a fragment.");
            valid = false;
        }

        valid &= ValidateNames(body.Query, "request.query", ParameterName(), "a query parameter name", errors);
        valid &= ValidateNames(body.Headers, "request.headers", HeaderName(), "an HTTP header name", errors);
        foreach (var header in (body.Headers ?? []).Keys.Where(ReservedHeaders.Contains))
        {
            errors.Add($"request.headers.{header}", "is set by the service; a credential goes in auth, where it is kept sealed.");
            valid = false;
        }

        return valid ? new SourceRequest(body.BaseUrl!.Trim(), path, body.Query, body.Headers) : null;
    }

    private static bool ValidateNames(Dictionary<string, string>? values, string field, Regex pattern, string what, Errors errors)
    {
        if (values is null)
        {
            return true;
        }

        var valid = true;
        if (values.Count > MaxParameters)
        {
            errors.Add(field, $"may hold at most {MaxParameters} entries.");
            valid = false;
        }

        foreach (var (name, value) in values)
        {
            if (!pattern.IsMatch(name))
            {
                errors.Add(field, $"'{name}' is not {what}.");
                valid = false;
            }

            if (value is null || value.Length > 2000 || value.Any(char.IsControl))
            {
                errors.Add($"{field}.{name}", "must be text of at most 2000 characters without control characters.");
                valid = false;
            }
        }

        return valid;
    }

    private static (SourceAuth? Auth, string? Secret) ValidateAuth(AuthBody? body, RequestBody? request, Errors errors)
    {
        if (body is null)
        {
            return (null, null);
        }

        var valid = true;
        SourceAuthPlacement placement = default;
        if (!TryEnum(body.In, out placement))
        {
            errors.Add("auth.in", "must be 'header' or 'query'.");
            valid = false;
        }

        var nameOk = placement == SourceAuthPlacement.Query ? ParameterName().IsMatch(body.Name ?? "") : HeaderName().IsMatch(body.Name ?? "");
        if (!nameOk)
        {
            errors.Add("auth.name", "must be the header or query parameter that carries the credential, e.g. Authorization or api_key.");
            valid = false;
        }
        else if (placement == SourceAuthPlacement.Header && body.Name is not null && ReservedHeaders.Contains(body.Name)
                 && !string.Equals(body.Name, "Authorization", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add("auth.name", $"'{body.Name}' is set by the service.");
            valid = false;
        }
        else if (request is not null && body.Name is not null
                 && ((placement == SourceAuthPlacement.Query && (request.Query?.ContainsKey(body.Name) ?? false))
                     || (placement == SourceAuthPlacement.Header && (request.Headers?.Keys.Contains(body.Name, StringComparer.OrdinalIgnoreCase) ?? false))))
        {
            errors.Add("auth.name", $"'{body.Name}' is also a fixed request parameter; the credential goes only here.");
            valid = false;
        }

        if (body.Prefix is { } prefix && (prefix.Length > 100 || prefix.Any(char.IsControl)))
        {
            errors.Add("auth.prefix", "must be at most 100 characters without control characters, e.g. 'Bearer '.");
            valid = false;
        }

        // The secret is never echoed in a message: only what is wrong with it.
        if (body.Secret is { } secret && (secret.Length == 0 || secret.Length > MaxSecretLength || secret.Any(char.IsControl)))
        {
            errors.Add("auth.secret", $"must be 1 to {MaxSecretLength} characters without control characters.");
            valid = false;
        }

        return valid ? (new SourceAuth(placement, body.Name!, body.Prefix), body.Secret) : (null, null);
    }

    private static SourcePagination? ValidatePagination(PaginationBody? body, Errors errors)
    {
        if (body is null)
        {
            errors.Add("pagination", "is required: style cursor, nextLink, page or offset.");
            return null;
        }

        var valid = true;
        PaginationStyle style = default;
        if (!TryEnum(body.Style, out style))
        {
            errors.Add("pagination.style", "must be 'cursor', 'nextLink', 'page' or 'offset'.");
            valid = false;
        }

        valid &= OptionalPath(body.CursorPath, "pagination.cursorPath", errors);
        valid &= OptionalPath(body.NextLinkPath, "pagination.nextLinkPath", errors);
        valid &= OptionalPath(body.HasMorePath, "pagination.hasMorePath", errors);
        valid &= OptionalName(body.CursorHeader, HeaderName(), "pagination.cursorHeader", "an HTTP header name", errors);
        valid &= OptionalName(body.CursorParameter, ParameterName(), "pagination.cursorParameter", "a query parameter name", errors);
        valid &= OptionalName(body.PageParameter, ParameterName(), "pagination.pageParameter", "a query parameter name", errors);
        valid &= OptionalName(body.OffsetParameter, ParameterName(), "pagination.offsetParameter", "a query parameter name", errors);
        valid &= OptionalName(body.LimitParameter, ParameterName(), "pagination.limitParameter", "a query parameter name", errors);

        if (body.PageSize is < 1 or > MaxPageSize)
        {
            errors.Add("pagination.pageSize", $"must be between 1 and {MaxPageSize}.");
            valid = false;
        }

        if (body.PageSize is not null && body.LimitParameter is null)
        {
            errors.Add("pagination.limitParameter", "is required with pageSize: the query parameter that asks for it, e.g. limit.");
            valid = false;
        }

        if (body.StartPage is < 0)
        {
            errors.Add("pagination.startPage", "must be 0 or more.");
            valid = false;
        }

        switch (valid ? style : (PaginationStyle?)null)
        {
            case PaginationStyle.Cursor:
                if (body.CursorPath is null && body.CursorHeader is null)
                {
                    errors.Add("pagination.cursorPath", "or cursorHeader is required: where the next page's cursor is read.");
                    valid = false;
                }

                if (body.CursorParameter is null)
                {
                    errors.Add("pagination.cursorParameter", "is required: the query parameter the cursor is sent back in, e.g. cursor.");
                    valid = false;
                }

                break;
            case PaginationStyle.Page when body.PageParameter is null:
                errors.Add("pagination.pageParameter", "is required: the query parameter of the page number, e.g. page.");
                valid = false;
                break;
            case PaginationStyle.Offset:
                if (body.OffsetParameter is null)
                {
                    errors.Add("pagination.offsetParameter", "is required: the query parameter of the offset, e.g. offset.");
                    valid = false;
                }

                if (body.LimitParameter is null)
                {
                    errors.Add("pagination.limitParameter", "is required with offset pagination, e.g. limit.");
                    valid = false;
                }

                break;
        }

        return valid
            ? new SourcePagination(style, body.CursorPath, body.CursorHeader, body.CursorParameter, body.NextLinkPath, body.HasMorePath,
                body.PageParameter, body.StartPage ?? 1, body.OffsetParameter, body.LimitParameter, body.PageSize)
            : null;
    }

    private static SourceRecords? ValidateRecords(RecordsBody? body, DatasetDefinition? dataset, Errors errors)
    {
        if (body is null)
        {
            errors.Add("records", "is required: path (where the records are) and fields (column → JSON path).");
            return null;
        }

        var valid = true;
        if (body.Path is null)
        {
            errors.Add("records.path", "is required: the JSON path of the array of records, e.g. $.data.");
            valid = false;
        }
        else
        {
            valid &= OptionalPath(body.Path, "records.path", errors);
        }

        valid &= OptionalPath(body.TotalPath, "records.totalPath", errors);

        var fields = body.Fields ?? [];
        if (fields.Count == 0)
        {
            errors.Add("records.fields", "must map at least one column to a JSON path in the record.");
            valid = false;
        }

        foreach (var (column, path) in fields)
        {
            if (dataset is not null && dataset.Column(column) is null)
            {
                errors.Add($"records.fields.{column}", $"is not a column of dataset '{dataset.Name}'.");
                valid = false;
            }

            valid &= OptionalPath(path, $"records.fields.{column}", errors);
        }

        if (dataset is not null)
        {
            var keySet = dataset.Key.ToHashSet(StringComparer.OrdinalIgnoreCase);
            foreach (var column in dataset.Columns.Where(c => !fields.Keys.Contains(c.Name, StringComparer.OrdinalIgnoreCase)))
            {
                if (keySet.Contains(column.Name))
                {
                    errors.Add("records.fields", $"must map key column '{column.Name}': the dataset's key decides duplicates.");
                    valid = false;
                }
                else if (column.Required)
                {
                    errors.Add("records.fields", $"must map required column '{column.Name}'.");
                    valid = false;
                }
            }
        }

        return valid ? new SourceRecords(body.Path!, fields, body.TotalPath) : null;
    }

    private static SourceRateLimit? ValidateRateLimit(RateLimitBody? body, Errors errors)
    {
        var policies = body?.Policies ?? [];
        if (policies.Count == 0)
        {
            errors.Add("rateLimit.policies", "must declare at least one policy, e.g. { requests: 10, perSeconds: 60 }: syncs pace themselves by it.");
            return null;
        }

        if (policies.Count > MaxPolicies)
        {
            errors.Add("rateLimit.policies", $"may declare at most {MaxPolicies} policies.");
            return null;
        }

        var valid = true;
        for (var i = 0; i < policies.Count; i++)
        {
            if (policies[i].Requests is not (>= 1 and <= 1_000_000))
            {
                errors.Add($"rateLimit.policies[{i}].requests", "must be a positive number of requests (at most 1,000,000).");
                valid = false;
            }

            if (policies[i].PerSeconds is not (>= 1 and <= 31 * 86_400))
            {
                errors.Add($"rateLimit.policies[{i}].perSeconds", "must be a positive number of seconds (at most 31 days).");
                valid = false;
            }
        }

        var margin = body?.MarginMilliseconds ?? SourceRateLimit.DefaultMarginMilliseconds;
        if (margin is < 0 or > SourceRateLimit.MaxMarginMilliseconds)
        {
            errors.Add("rateLimit.marginMilliseconds",
                $"must be from 0 to {SourceRateLimit.MaxMarginMilliseconds} milliseconds (the default, {SourceRateLimit.DefaultMarginMilliseconds}, suits an upstream a few network hops away).");
            valid = false;
        }

        return valid
            ? new SourceRateLimit(policies.Select(p => new RateLimitPolicy(p.Requests!.Value, p.PerSeconds!.Value)).ToList(),
                body?.LearnFromHeaders ?? true, margin)
            : null;
    }

    private static SourceIncremental? ValidateIncremental(IncrementalBody? body, DatasetDefinition? dataset, SourceRecords? records, Errors errors)
    {
        if (body is null)
        {
            return null;
        }

        var valid = true;
        if (!Identifier.IsValid(body.Column))
        {
            errors.Add("incremental.column", "must name the dataset's timestamptz column that is the high-water mark.");
            valid = false;
        }
        else if (dataset is not null)
        {
            var column = dataset.Column(body.Column!);
            if (column is null)
            {
                errors.Add("incremental.column", $"is not a column of dataset '{dataset.Name}'.");
                valid = false;
            }
            else if (column.Type.Kind != ColumnKind.TimestampTz)
            {
                errors.Add("incremental.column", $"'{column.Name}' is {column.Type.ToSql()}; the high-water mark must be a timestamptz column.");
                valid = false;
            }
            else if (records is not null && !records.Fields.Keys.Contains(column.Name, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add("incremental.column", $"'{column.Name}' must be mapped in records.fields: the mark is read from each record.");
                valid = false;
            }
        }

        if (body.SinceParameter is null)
        {
            errors.Add("incremental.sinceParameter", "is required: the query parameter that asks for records from a time, e.g. since.");
            valid = false;
        }

        valid &= OptionalName(body.SinceParameter, ParameterName(), "incremental.sinceParameter", "a query parameter name", errors);
        valid &= OptionalName(body.UntilParameter, ParameterName(), "incremental.untilParameter", "a query parameter name", errors);

        TimeFormat format = TimeFormat.Iso8601;
        if (body.Format is not null && !TryEnum(body.Format, out format))
        {
            errors.Add("incremental.format", "must be 'iso8601', 'unixSeconds' or 'unixMilliseconds'.");
            valid = false;
        }

        if (body.LookbackSeconds is < 0 or > 31 * 86_400)
        {
            errors.Add("incremental.lookbackSeconds", "must be between 0 and 31 days.");
            valid = false;
        }

        return valid
            ? new SourceIncremental(body.Column!, body.SinceParameter!, body.UntilParameter, format, body.LookbackSeconds ?? 0)
            : null;
    }

    private static SourcePartitions? ValidatePartitions(PartitionsBody? body, IncrementalBody? incrementalBody, SourceIncremental? incremental,
        Errors errors)
    {
        if (body is null)
        {
            return null;
        }

        var valid = true;
        if (incrementalBody is null)
        {
            errors.Add("partitions", "needs incremental: slices are asked for with its since and until parameters.");
            valid = false;
        }
        else if (incrementalBody.UntilParameter is null)
        {
            errors.Add("incremental.untilParameter", "is required with partitions: each slice ends at its until.");
            valid = false;
        }

        if (body.Start is null)
        {
            errors.Add("partitions.start", "is required: the time the history starts, ISO 8601.");
            valid = false;
        }
        else if (body.Start > DateTimeOffset.UtcNow)
        {
            errors.Add("partitions.start", "is in the future.");
            valid = false;
        }

        if (body.SliceSeconds is not (>= 60 and <= 366 * 86_400))
        {
            errors.Add("partitions.sliceSeconds", "must be between 60 seconds and a year.");
            valid = false;
        }
        else if (body.Start is { } start && start <= DateTimeOffset.UtcNow
                 && (DateTimeOffset.UtcNow - start).TotalSeconds / body.SliceSeconds.Value > MaxSlices)
        {
            errors.Add("partitions.sliceSeconds",
                $"cuts the history since partitions.start into more than {MaxSlices} slices; make the slices longer or the start later.");
            valid = false;
        }

        if (body.Parallelism is < 1 or > MaxParallelism)
        {
            errors.Add("partitions.parallelism", $"must be between 1 and {MaxParallelism}.");
            valid = false;
        }

        return valid && incremental is not null
            ? new SourcePartitions(body.Start!.Value, body.SliceSeconds!.Value, body.Parallelism ?? 2)
            : null;
    }

    /// <summary>
    /// Why an incremental sync into a dataset without a key is refused: it asks from the high-water mark's second on (and
    /// lookbackSeconds before it), so it reads again records the last sync loaded, which only a key can recognise.
    /// </summary>
    public static string KeylessIncremental(string dataset) =>
        $"dataset '{dataset}' has no key, and an incremental sync reads again the records of its high-water mark's second (and lookbackSeconds before it): without a key they would be loaded twice. Declare a key on the dataset, or ask for since/until ranges that do not overlap (a full sync loads the whole listing again, doubling what the last one loaded).";

    /// <summary>
    /// Why a sync into a dataset without a key fails when the upstream refuses its cursor: it could only go on from its
    /// committed marks (reading their second again) or start its range over (reading every committed record again).
    /// </summary>
    public static string KeylessCursorExpired(string dataset, int status) =>
        $"the upstream refused the partition's cursor ({status}) and dataset '{dataset}' has no key: going on from what is committed would read its last records again, and starting over all of them, loading them twice. The records committed so far stay; declare a key on the dataset so a sync can resume, or sync the rest with a since/until range that does not overlap them.";

    private static SourceSchedule? ValidateSchedule(ScheduleBody? body, IncrementalBody? incremental, DatasetDefinition? dataset, int minimumMinutes,
        Errors errors)
    {
        if (body is null)
        {
            return null;
        }

        var valid = true;
        if (body.EveryMinutes is null || body.EveryMinutes < minimumMinutes || body.EveryMinutes > 31 * 1440)
        {
            errors.Add("schedule.everyMinutes", $"must be between {minimumMinutes} minutes (this service's minimum) and 31 days.");
            valid = false;
        }

        SyncMode mode = SyncMode.Incremental;
        if (body.Mode is not null && !TryEnum(body.Mode, out mode))
        {
            errors.Add("schedule.mode", "must be 'incremental' or 'full'.");
            valid = false;
        }
        else if (mode == SyncMode.Incremental && incremental is null)
        {
            errors.Add("schedule.mode", "'incremental' needs incremental (its column and since parameter); or schedule full syncs.");
            valid = false;
        }
        else if (mode == SyncMode.Incremental && dataset is { Key.Count: 0 })
        {
            errors.Add("schedule.mode", SourceRules.KeylessIncremental(dataset.Name));
            valid = false;
        }

        return valid ? new SourceSchedule(body.EveryMinutes!.Value, mode) : null;
    }

    /// <summary>A member's name, in any case; not a number (which Enum.TryParse would take).</summary>
    private static bool TryEnum<T>(string? value, out T result)
        where T : struct, Enum
    {
        result = default;
        return value is { Length: > 0 } && char.IsLetter(value[0]) && Enum.TryParse(value, ignoreCase: true, out result);
    }

    /// <summary>
    /// A page's records stream to the loader one by one and are skipped whole while the page is read (<c>PageStream</c>): a
    /// cursor, next link, has-more or total path inside the records array would never be found, and the partition would end
    /// after its first page as if the listing had.
    /// </summary>
    private static void RefusePathsInsideRecords(PaginationBody? pagination, RecordsBody? records, Errors errors)
    {
        if (records?.Path is null || !JsonPath.TryParse(records.Path, out var recordsPath, out _))
        {
            return;
        }

        (string? Path, string Field)[] paths =
        [
            (pagination?.CursorPath, "pagination.cursorPath"), (pagination?.NextLinkPath, "pagination.nextLinkPath"),
            (pagination?.HasMorePath, "pagination.hasMorePath"), (records.TotalPath, "records.totalPath"),
        ];
        foreach (var (path, field) in paths)
        {
            if (path is not null && JsonPath.TryParse(path, out var parsed, out _) && parsed.Steps.Count >= recordsPath.Steps.Count
                && parsed.Steps.Take(recordsPath.Steps.Count).SequenceEqual(recordsPath.Steps))
            {
                errors.Add(field, $"lies inside records.path ({records.Path}): records are not searched for it; give a path outside the records, e.g. $.meta.next_cursor.");
            }
        }
    }

    private static bool OptionalPath(string? path, string field, Errors errors)
    {
        if (path is null || JsonPath.TryParse(path, out _, out var problem))
        {
            return true;
        }

        errors.Add(field, problem);
        return false;
    }

    private static bool OptionalName(string? name, Regex pattern, string field, string what, Errors errors)
    {
        if (name is null || pattern.IsMatch(name))
        {
            return true;
        }

        errors.Add(field, $"'{name}' is not {what}.");
        return false;
    }

    /// <summary>RFC 9110 token: what an HTTP field name may be.</summary>
    [GeneratedRegex(@"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$", RegexOptions.CultureInvariant)]
    private static partial Regex HeaderName();

    [GeneratedRegex(@"^[A-Za-z0-9_.\-\[\]~]{1,100}$", RegexOptions.CultureInvariant)]
    private static partial Regex ParameterName();

    private sealed class Errors
    {
        private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

        public int Count => _errors.Count;

        public void Add(string field, string message)
        {
            if (!_errors.TryGetValue(field, out var list))
            {
                _errors[field] = list = [];
            }

            list.Add(message);
        }

        public Dictionary<string, string[]> ToDictionary() => _errors.ToDictionary(e => e.Key, e => e.Value.ToArray());
    }
}
