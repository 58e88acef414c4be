-- The music example used throughout restable's documentation and tests.
-- Written for SQLite, kept portable: the same file loads on PostgreSQL and MySQL/MariaDB
-- (standard types, multi-row VALUES, TRUE/FALSE literals, '' to escape a quote).
-- Ids are explicit so that examples and tests can name rows; the first rows of each table
-- are the acceptance-test fixture.

CREATE TABLE artists (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE albums (
  id        INTEGER PRIMARY KEY,
  title     TEXT NOT NULL,
  artist_id INTEGER NOT NULL REFERENCES artists(id),
  year      INTEGER NULL
);

CREATE TABLE tracks (
  id           INTEGER PRIMARY KEY,
  name         TEXT NOT NULL,
  album_id     INTEGER NOT NULL REFERENCES albums(id),
  milliseconds INTEGER,
  unit_price   NUMERIC(4,2) NOT NULL DEFAULT 0.99,
  genre        TEXT NULL,
  explicit     BOOLEAN NOT NULL DEFAULT FALSE,
  created_at   TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CHECK (unit_price >= 0)
);

CREATE TABLE playlists (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL
);

CREATE TABLE playlist_tracks (
  playlist_id INTEGER NOT NULL REFERENCES playlists(id),
  track_id    INTEGER NOT NULL REFERENCES tracks(id),
  PRIMARY KEY (playlist_id, track_id)
);

INSERT INTO artists (id, name) VALUES
  (1, 'AC/DC'),
  (2, 'Accept'),
  (3, 'Aerosmith'),
  (4, 'Audioslave'),
  (5, 'Crosby, Stills and Nash'),
  (6, 'Björk'),
  (7, 'Motörhead'),
  (8, 'Sigur Rós'),
  (9, '坂本龍一'),
  (10, 'Mötley Crüe'),
  (11, 'Beyoncé');

INSERT INTO albums (id, title, artist_id, year) VALUES
  (1, 'For Those About To Rock', 1, 1981),
  (2, 'Back in Black', 1, 1980),
  (3, 'Balls to the Wall', 2, 1983),
  (4, 'Restless and Wild', 2, 1982),
  (5, 'Big Ones', 3, 1994),
  (6, 'Audioslave', 4, 2002),
  (7, 'Unreleased Demos', 3, NULL),
  (8, 'Homogenic', 6, 1997),
  (9, 'Vespertine', 6, 2001),
  (10, 'Ace of Spades', 7, 1980),
  (11, 'Ágætis byrjun', 8, 1999),
  (12, '戦場のメリークリスマス', 9, 1983),
  (13, 'Dr. Feelgood', 10, 1989),
  (14, 'Lemonade', 11, 2016),
  (15, 'Déjà Vu', 5, 1970);

INSERT INTO tracks (id, name, album_id, milliseconds, unit_price, genre, explicit, created_at) VALUES
  (1, 'For Those About To Rock (We Salute You)', 1, 343719, 0.99, 'Rock', FALSE, '2024-06-08 03:17:29'),
  (2, 'Put The Finger On You', 1, 205662, 0.99, 'Rock', FALSE, '2024-11-15 06:34:58'),
  (3, 'Hells Bells', 2, 312000, 0.99, 'Rock', FALSE, '2024-04-22 09:51:27'),
  (4, 'Balls to the Wall', 3, 342562, 0.99, 'Metal', FALSE, '2024-09-01 12:08:56'),
  (5, 'Fast As a Shark', 4, 230619, 0.99, 'Metal', FALSE, '2024-02-08 15:25:25'),
  (6, 'Walk On Water', 5, 295680, 1.29, NULL, FALSE, '2024-07-15 18:42:54'),
  (7, 'Cochise', 6, 222380, 1.29, 'Alternative', FALSE, '2024-12-22 21:59:23'),
  (8, 'Like a Stone', 6, 294000, 1.29, 'Alternative', FALSE, '2024-05-01 00:16:52'),
  (9, 'Let''s Get It Up', 1, 233926, 0.99, 'Rock', FALSE, '2024-10-08 03:33:21'),
  (10, 'Inject The Venom', 1, 210834, 0.99, 'Rock', FALSE, '2024-03-15 06:50:50'),
  (11, 'Shoot to Thrill', 2, 317387, 0.99, 'Rock', FALSE, '2024-08-22 09:07:19'),
  (12, 'Back in Black', 2, 255634, 0.99, 'Rock', FALSE, '2024-01-01 12:24:48'),
  (13, 'You Shook Me All Night Long', 2, 210173, 0.99, 'Rock', FALSE, '2024-06-08 15:41:17'),
  (14, 'London Leatherboys', 3, 263497, 0.99, 'Metal', FALSE, '2024-11-15 18:58:46'),
  (15, 'Fight It Back', 3, 213655, 0.99, 'Metal', FALSE, '2024-04-22 21:15:15'),
  (16, 'Princess of the Dawn', 4, 375418, 0.99, 'Metal', FALSE, '2024-09-01 00:32:44'),
  (17, 'Love In An Elevator', 5, 321828, 1.29, NULL, FALSE, '2024-02-08 03:49:13'),
  (18, 'Cryin''', 5, 309263, 1.29, 'Rock', FALSE, '2024-07-15 06:06:42'),
  (19, 'Show Me How to Live', 6, 277890, 1.29, 'Alternative', FALSE, '2024-12-22 09:23:11'),
  (20, 'Gasoline', 6, 279457, 1.29, 'Alternative', FALSE, '2024-05-01 12:40:40'),
  (21, 'Demo #1 (untitled)', 7, NULL, 0.99, NULL, FALSE, '2024-10-08 15:57:09'),
  (22, 'Hunter', 8, 255653, 1.29, 'Electronic', FALSE, '2024-03-15 18:14:38'),
  (23, 'Jóga', 8, 305067, 1.29, 'Electronic', FALSE, '2024-08-22 21:31:07'),
  (24, 'Bachelorette', 8, 316920, 1.29, 'Electronic', FALSE, '2024-01-01 00:48:36'),
  (25, 'All Is Full of Love', 8, 272427, 1.29, 'Electronic', FALSE, '2024-06-08 03:05:05'),
  (26, 'Hidden Place', 9, 328573, 1.29, 'Electronic', FALSE, '2024-11-15 06:22:34'),
  (27, 'Pagan Poetry', 9, 314680, 1.29, 'Electronic', FALSE, '2024-04-22 09:39:03'),
  (28, 'Cocoon', 9, 269853, 1.29, NULL, FALSE, '2024-09-01 12:56:32'),
  (29, 'Ace of Spades', 10, 169080, 0.99, 'Metal', FALSE, '2024-02-08 15:13:01'),
  (30, 'Love Me Like a Reptile', 10, 203413, 0.99, 'Metal', FALSE, '2024-07-15 18:30:30'),
  (31, 'Shoot You in the Back', 10, 179200, 0.99, 'Metal', FALSE, '2024-12-22 21:47:59'),
  (32, 'The Chase Is Better Than the Catch', 10, 258680, 0.99, 'Metal', TRUE, '2024-05-01 00:04:28'),
  (33, 'Svefn-g-englar', 11, 604013, 0.99, 'Post-Rock', FALSE, '2024-10-08 03:21:57'),
  (34, 'Starálfur', 11, 406773, 0.99, 'Post-Rock', FALSE, '2024-03-15 06:38:26'),
  (35, 'Olsen Olsen', 11, 483120, 0.99, 'Post-Rock', FALSE, '2024-08-22 09:55:55'),
  (36, 'Ágætis byrjun', 11, 476240, 0.99, 'Post-Rock', FALSE, '2024-01-01 12:12:24'),
  (37, 'Merry Christmas Mr. Lawrence', 12, 274507, 1.29, 'Soundtrack', FALSE, '2024-06-08 15:29:53'),
  (38, 'Batavia', 12, 137360, 1.29, 'Soundtrack', FALSE, '2024-11-15 18:46:22'),
  (39, 'Germination', 12, 112053, 1.29, NULL, FALSE, '2024-04-22 21:03:51'),
  (40, 'The Seed and the Sower', 12, 300987, 1.29, 'Soundtrack', FALSE, '2024-09-01 00:20:20'),
  (41, 'Dr. Feelgood', 13, 290693, 0.99, 'Metal', TRUE, '2024-02-08 03:37:49'),
  (42, 'Kickstart My Heart', 13, 283040, 0.99, 'Metal', TRUE, '2024-07-15 06:54:18'),
  (43, 'Without You', 13, 268427, 0.99, 'Metal', FALSE, '2024-12-22 09:11:47'),
  (44, 'Formation', 14, 206213, 1.29, 'R&B', TRUE, '2024-05-01 12:28:16'),
  (45, 'Hold Up', 14, 221560, 1.29, 'R&B', TRUE, '2024-10-08 15:45:45'),
  (46, 'Sorry', 14, 232907, 1.29, 'R&B', TRUE, '2024-03-15 18:02:14'),
  (47, 'Freedom', 14, 289760, 1.29, 'R&B', TRUE, '2024-08-22 21:19:43'),
  (48, 'Carry On', 15, 265347, 0.99, 'Rock', FALSE, '2024-01-01 00:36:12'),
  (49, 'Teach Your Children', 15, 173373, 0.99, 'Folk', FALSE, '2024-06-08 03:53:41'),
  (50, 'Our House', 15, 180627, 0.99, 'Folk', FALSE, '2024-11-15 06:10:10'),
  (51, 'Helpless', 15, 213693, 0.99, NULL, FALSE, '2024-04-22 09:27:39');

INSERT INTO playlists (id, name) VALUES
  (1, 'Music'),
  (2, 'Heavy'),
  (3, 'Empty');

INSERT INTO playlist_tracks (playlist_id, track_id) VALUES
  (1, 1),
  (1, 3),
  (1, 7),
  (2, 4),
  (2, 5),
  (1, 23),
  (1, 33),
  (1, 37),
  (1, 44),
  (2, 29),
  (2, 41),
  (2, 42);
