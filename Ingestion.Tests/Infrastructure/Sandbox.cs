using System.Net.Http.Headers;
using System.Text;
using Amazon.S3;
using Amazon.S3.Model;
using Ingestion.Platform.Storage;
using Npgsql;

namespace Ingestion.Tests.Infrastructure;

/// <summary>
/// A private corner of the shared servers: a database, a RabbitMQ virtual host and a bucket
/// of its own, so that the hosts of one stack never see another stack's jobs or messages.
/// </summary>
public sealed class Sandbox : IAsyncDisposable
{
    private readonly Servers _servers;
    private readonly HttpClient _management;

    private Sandbox(Servers servers, string name, HttpClient management)
    {
        _servers = servers;
        _management = management;
        Name = name;
        Database = "ingestion_test_" + name;
        VirtualHost = "test_" + name;
        Bucket = "test-" + name.Replace('_', '-');
        ConnectionString = servers.PostgresConnectionString(Database);
        Db = NpgsqlDataSource.Create(ConnectionString);
        S3 = StorageExtensions.CreateClient(new S3Options
        {
            ServiceUrl = servers.S3Url,
            AccessKey = servers.S3AccessKey,
            SecretKey = servers.S3SecretKey,
            Bucket = Bucket,
        });
    }

    public string Name { get; }

    public string Database { get; }

    public string VirtualHost { get; }

    public string Bucket { get; }

    public string ConnectionString { get; }

    public NpgsqlDataSource Db { get; }

    public IAmazonS3 S3 { get; }

    public Servers Servers => _servers;

    /// <summary>Signs the read API's cursors: one per namespace, the same for every host of it.</summary>
    private readonly string _cursorKey = "test-cursor-key-" + Guid.NewGuid().ToString("N");

    /// <summary>The configuration that points a host at this namespace.</summary>
    public IReadOnlyDictionary<string, string> Settings => new Dictionary<string, string>(Keys.Settings)
    {
        ["ConnectionStrings__Postgres"] = ConnectionString,
        ["RabbitMq__Host"] = _servers.RabbitHost,
        ["RabbitMq__Port"] = _servers.RabbitPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["RabbitMq__ManagementPort"] = _servers.RabbitManagementPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["RabbitMq__VirtualHost"] = VirtualHost,
        ["RabbitMq__Username"] = _servers.RabbitUser,
        ["RabbitMq__Password"] = _servers.RabbitPassword,
        ["S3__ServiceUrl"] = _servers.S3Url,
        ["S3__AccessKey"] = _servers.S3AccessKey,
        ["S3__SecretKey"] = _servers.S3SecretKey,
        ["S3__Bucket"] = Bucket,
        ["Logging__Json"] = "false",

        // Tests and benches create jobs far faster than a tenant in production may.
        ["Limits__JobsPerHour"] = "1000000",
        ["Reads__CursorKey"] = _cursorKey,
    };

    public static async Task<Sandbox> CreateAsync(Servers servers, string name)
    {
        var management = new HttpClient { BaseAddress = new Uri($"http://{servers.RabbitHost}:{servers.RabbitManagementPort}/api/") };
        management.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{servers.RabbitUser}:{servers.RabbitPassword}")));
        var ns = new Sandbox(servers, name, management);

        await using (var admin = NpgsqlDataSource.Create(servers.PostgresConnectionString("postgres")))
        {
            await using var drop = admin.CreateCommand($"drop database if exists \"{ns.Database}\" with (force)");
            await drop.ExecuteNonQueryAsync();
            await using var create = admin.CreateCommand($"create database \"{ns.Database}\"");
            await create.ExecuteNonQueryAsync();
        }

        var vhost = Uri.EscapeDataString(ns.VirtualHost);
        (await management.PutAsync($"vhosts/{vhost}", null)).EnsureSuccessStatusCode();
        (await management.PutAsync($"permissions/{vhost}/{Uri.EscapeDataString(servers.RabbitUser)}",
            new StringContent("""{"configure":".*","write":".*","read":".*"}""", Encoding.UTF8, "application/json")))
            .EnsureSuccessStatusCode();

        await ns.S3.PutBucketAsync(ns.Bucket);
        return ns;
    }

    /// <summary>Messages waiting in a queue of this namespace's virtual host, as RabbitMQ counts them.</summary>
    public async Task<long> QueueDepthAsync(string queue)
    {
        using var response = await _management.GetAsync($"queues/{Uri.EscapeDataString(VirtualHost)}/{Uri.EscapeDataString(queue)}");
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return 0;
        }

        var json = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return json["messages"]?.GetValue<long>() ?? 0;
    }

    public async Task<List<string>> ObjectKeysAsync(string prefix)
    {
        var listing = await S3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Bucket, Prefix = prefix });
        return (listing.S3Objects ?? []).Select(o => o.Key).ToList();
    }

    /// <summary>Multipart uploads begun and neither completed nor aborted, of keys under <paramref name="prefix"/>.</summary>
    public async Task<int> PendingMultipartUploadsAsync(string prefix = "")
    {
        var uploads = await S3.ListMultipartUploadsAsync(new ListMultipartUploadsRequest { BucketName = Bucket });
        return (uploads.MultipartUploads ?? []).Count(u => u.Key.StartsWith(prefix, StringComparison.Ordinal));
    }

    public async Task<T?> ScalarAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = Db.CreateCommand(sql);
        foreach (var (parameterName, value) in parameters)
        {
            command.Parameters.AddWithValue(parameterName, value);
        }

        var result = await command.ExecuteScalarAsync();
        return result is null or DBNull ? default : (T)result;
    }

    public async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = Db.CreateCommand(sql);
        foreach (var (parameterName, value) in parameters)
        {
            command.Parameters.AddWithValue(parameterName, value);
        }

        await command.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Db.DisposeAsync();
        await _management.DeleteAsync($"vhosts/{Uri.EscapeDataString(VirtualHost)}");
        _management.Dispose();
        await using (var admin = NpgsqlDataSource.Create(_servers.PostgresConnectionString("postgres")))
        {
            // FORCE ends our own sessions, but not a server process in the database that our role may
            // not signal (autovacuum after a large load): a plain DROP makes autovacuum step aside,
            // and is retried while such a process still holds on.
            var force = " with (force)";
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await using var drop = admin.CreateCommand($"drop database if exists \"{Database}\"{force}");
                    await drop.ExecuteNonQueryAsync();
                    break;
                }
                catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.ObjectInUse
                                                  && attempt < 30)
                {
                    force = e.SqlState == PostgresErrorCodes.InsufficientPrivilege ? "" : " with (force)";
                    await Task.Delay(1000);
                }
            }
        }

        var keys = await S3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Bucket });
        foreach (var item in keys.S3Objects ?? [])
        {
            await S3.DeleteObjectAsync(Bucket, item.Key);
        }

        try
        {
            await S3.DeleteBucketAsync(Bucket);
        }
        catch (AmazonS3Exception e)
        {
            // Leftovers (an aborted multipart upload) only cost disk under .data/.
            await Console.Error.WriteLineAsync($"bucket {Bucket} not deleted: {e.Message}");
        }

        S3.Dispose();
    }
}
