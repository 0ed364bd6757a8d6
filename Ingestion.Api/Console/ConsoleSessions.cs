using System.Security.Cryptography;
using System.Text;
using Ingestion.Api.Security;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Api.Console;

/// <summary>A signed-in console: who it acts as and until when.</summary>
public sealed record ConsoleSession(Caller Caller, string CsrfToken, DateTimeOffset ExpiresAt);

/// <summary>
/// Console sessions in PostgreSQL (<c>ingestion.console_sessions</c>), so any API instance
/// honours a cookie another issued and sign-out ends the session everywhere. The cookie holds a
/// random 256-bit token; the table holds its SHA-256 only. The CSRF token is derived from the
/// session token, so it needs no storage and cannot be computed without the cookie.
/// </summary>
public sealed class ConsoleSessions(NpgsqlDataSource dataSource, ApiKeyDirectory keys, IOptions<ConsoleOptions> options)
{
    private const string InsertSql = """
        insert into ingestion.console_sessions (token_hash, key_hash, actor, expires_at)
        values ($1, $2, $3, now() + make_interval(mins => $4))
        returning expires_at
        """;

    private const string FindSql = """
        select key_hash, expires_at from ingestion.console_sessions
        where token_hash = $1 and expires_at > now()
        """;

    private const string DeleteSql = "delete from ingestion.console_sessions where token_hash = $1";

    // Bounded, so a sign-in never waits on a large clean-up; the index on expires_at finds them.
    private const string PurgeSql = """
        delete from ingestion.console_sessions
        where token_hash in (select token_hash from ingestion.console_sessions where expires_at <= now() limit 100)
        """;

    /// <summary>Opens a session for a key's caller; returns the cookie's token and the session.</summary>
    public async Task<(string Token, ConsoleSession Session)> OpenAsync(string apiKey, Caller caller, CancellationToken cancellationToken)
    {
        var token = Base64Url(RandomNumberGenerator.GetBytes(32));
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using (var purge = new NpgsqlCommand(PurgeSql, connection))
        {
            await purge.ExecuteNonQueryAsync(cancellationToken);
        }

        await using var insert = new NpgsqlCommand(InsertSql, connection)
        {
            Parameters =
            {
                new() { Value = TokenHash(token) },
                new() { Value = ApiKeyDirectory.Hash(apiKey) },
                new() { Value = caller.Actor },
                new() { Value = options.Value.SessionMinutes },
            },
        };
        var expiresAt = (DateTime)(await insert.ExecuteScalarAsync(cancellationToken))!;
        return (token, new ConsoleSession(caller, CsrfTokenOf(token), new DateTimeOffset(expiresAt, TimeSpan.Zero)));
    }

    /// <summary>The live session of a cookie's token, or null when it is unknown, expired, or its key was withdrawn.</summary>
    public async Task<ConsoleSession?> FindAsync(string token, CancellationToken cancellationToken)
    {
        await using var find = dataSource.CreateCommand(FindSql);
        find.Parameters.Add(new NpgsqlParameter { Value = TokenHash(token) });
        await using var reader = await find.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        var caller = keys.FindByHash(reader.GetString(0));
        return caller is null
            ? null
            : new ConsoleSession(caller, CsrfTokenOf(token), new DateTimeOffset(reader.GetDateTime(1), TimeSpan.Zero));
    }

    public async Task EndAsync(string token, CancellationToken cancellationToken)
    {
        await using var delete = dataSource.CreateCommand(DeleteSql);
        delete.Parameters.Add(new NpgsqlParameter { Value = TokenHash(token) });
        await delete.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Whether a request's <c>X-CSRF-Token</c> is the one of its session, compared in fixed time.</summary>
    public static bool IsCsrfTokenOf(string presented, string expected) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(expected));

    private static byte[] TokenHash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    private static string CsrfTokenOf(string token) => Base64Url(SHA256.HashData(Encoding.UTF8.GetBytes("csrf\n" + token)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
